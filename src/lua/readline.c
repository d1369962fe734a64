/* lunagrad.readline: what the `lunagrad` REPL needs from C, built as its own module
 * (build/lunagrad/readline.so) so that the core never links a line editor.
 *
 *   rl.editing                 true when built with GNU readline (LG_HAVE_READLINE)
 *   rl.readline(prompt)        the line typed (no newline); nil at end of input (Ctrl-D);
 *                              false when Ctrl-C cancelled the line
 *   rl.add_history(line)  rl.read_history(path)  rl.append_history(path, max_lines)
 *   rl.set_completer(fn)       fn(word, line_before_word) -> list of completions of word
 *   rl.call(fn, msgh)          like xpcall(fn, msgh), but Ctrl-C while fn runs raises
 *                              "interrupted!" in fn (a second Ctrl-C before fn
 *                              reaches Lua code ends the process, as in lua5.4)
 *   rl.catch_interrupt()       from now on Ctrl-C outside rl.call does not end the
 *                              process: it is remembered; rl.interrupted() reads and clears it
 *
 * Ctrl-C at the prompt uses readline's callback interface (as Python does): SIGINT
 * interrupts select(), the partial line is dropped and readline() returns false.
 * Without readline the module still provides call/catch_interrupt/interrupted, and
 * the REPL reads with io.read. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#ifdef LG_HAVE_READLINE
#include <readline/history.h>
#include <readline/readline.h>
#endif

int luaopen_lunagrad_readline(lua_State *L);

static volatile sig_atomic_t got_sigint = 0;
static volatile sig_atomic_t running = 0; /* inside rl.call */
static lua_State *volatile running_L = NULL;

static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

static void on_sigint(int sig) {
  (void)sig;
  if (running && running_L) {
    if (got_sigint) { /* second Ctrl-C while C code keeps the hook from firing */
      signal(SIGINT, SIG_DFL);
      raise(SIGINT);
      return;
    }
    got_sigint = 1;
    lua_sethook(running_L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
    return;
  }
  got_sigint = 1;
}

static void install_handler(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART: a blocked read or select returns EINTR */
  sigaction(SIGINT, &sa, NULL);
}

static int l_catch_interrupt(lua_State *L) {
  (void)L;
  install_handler();
  return 0;
}

static int l_interrupted(lua_State *L) {
  lua_pushboolean(L, got_sigint);
  got_sigint = 0;
  return 1;
}

static int l_call(lua_State *L) {
  luaL_checkany(L, 1);
  luaL_checkany(L, 2);
  int top = lua_gettop(L);
  lua_pushvalue(L, 2); /* msgh */
  lua_pushvalue(L, 1); /* fn */
  running_L = L;
  running = 1;
  install_handler();
  /* a Ctrl-C since the line was read interrupts fn at once */
  if (got_sigint) lua_sethook(L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
  int status = lua_pcall(L, 0, LUA_MULTRET, top + 1);
  running = 0;
  lua_sethook(L, NULL, 0, 0);
  got_sigint = 0;
  install_handler(); /* restored if a second Ctrl-C reset it */
  lua_pushboolean(L, status == LUA_OK);
  lua_replace(L, top + 1); /* the msgh slot becomes the status */
  return lua_gettop(L) - top;
}

#ifdef LG_HAVE_READLINE

static lua_State *completion_L = NULL;
static int completer_ref = LUA_NOREF;
static char *cb_line = NULL;
static int cb_done = 0;

static void on_line(char *line) {
  cb_line = line;
  cb_done = 1;
  rl_callback_handler_remove();
}

static int l_readline(lua_State *L) {
  const char *prompt = luaL_optstring(L, 1, "> ");
  install_handler();
  if (got_sigint) { /* Ctrl-C between two prompts cancels the line about to be read */
    got_sigint = 0;
    fputs("^C\n", stdout);
    fflush(stdout);
    lua_pushboolean(L, 0);
    return 1;
  }
  cb_line = NULL;
  cb_done = 0;
  completion_L = L;
  rl_callback_handler_install(prompt, on_line);
  int fd = fileno(rl_instream ? rl_instream : stdin);
  while (!cb_done) {
    fd_set fds;
    FD_ZERO(&fds);
    FD_SET(fd, &fds);
    int r = select(fd + 1, &fds, NULL, NULL, NULL);
    if (r < 0) {
      if (errno == EINTR && got_sigint) {
        got_sigint = 0;
        rl_echo_signal_char(SIGINT); /* "^C" after what was typed, as a shell shows it */
        rl_free_line_state();
        rl_callback_sigcleanup();
        rl_cleanup_after_signal();
        rl_callback_handler_remove();
        completion_L = NULL;
        fputs("\n", rl_outstream ? rl_outstream : stdout);
        fflush(rl_outstream ? rl_outstream : stdout);
        lua_pushboolean(L, 0);
        return 1;
      }
      if (errno == EINTR) continue;
      rl_callback_handler_remove();
      completion_L = NULL;
      return luaL_error(L, "lunagrad.readline: select failed: %s", strerror(errno));
    }
    rl_callback_read_char();
  }
  completion_L = NULL;
  if (!cb_line) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushstring(L, cb_line);
  free(cb_line);
  cb_line = NULL;
  return 1;
}

/* readline's generator protocol: called with state 0 first, then until NULL. */
static char **matches_list = NULL;
static int matches_n = 0, matches_i = 0;

static char *generator(const char *text, int state) {
  (void)text;
  if (state == 0) matches_i = 0;
  if (matches_i < matches_n) return strdup(matches_list[matches_i++]);
  return NULL;
}

static void free_matches(void) {
  for (int i = 0; i < matches_n; i++) free(matches_list[i]);
  free(matches_list);
  matches_list = NULL;
  matches_n = 0;
}

static int call_completer(lua_State *L) {
  const char *text = lua_tostring(L, 1);
  const char *before = lua_tostring(L, 2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, completer_ref);
  lua_pushstring(L, text);
  lua_pushstring(L, before);
  lua_call(L, 2, 1);
  if (!lua_istable(L, -1)) return 0;
  int n = (int)luaL_len(L, -1);
  matches_list = calloc((size_t)n + 1, sizeof(char *));
  if (!matches_list) return 0;
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    const char *s = lua_tostring(L, -1);
    if (s) {
      char *copy = strdup(s);
      if (copy) matches_list[matches_n++] = copy;
    }
    lua_pop(L, 1);
  }
  return 0;
}

static char **complete(const char *text, int start, int end) {
  (void)end;
  rl_attempted_completion_over = 1; /* never fall back to file names */
  rl_completion_append_character = '\0'; /* readline resets it before each completion */
  if (!completion_L || completer_ref == LUA_NOREF) return NULL;
  lua_State *L = completion_L;
  int top = lua_gettop(L);
  free_matches();
  char *before = strndup(rl_line_buffer, (size_t)start);
  lua_pushcfunction(L, call_completer);
  lua_pushstring(L, text);
  lua_pushstring(L, before ? before : "");
  free(before);
  lua_pcall(L, 2, 0, 0); /* a failing completer offers nothing */
  lua_settop(L, top);
  char **result = matches_n ? rl_completion_matches(text, generator) : NULL;
  free_matches();
  return result;
}

static int l_set_completer(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_pushvalue(L, 1);
  if (completer_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, completer_ref);
  completer_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

static int l_add_history(lua_State *L) {
  add_history(luaL_checkstring(L, 1));
  return 0;
}

static int l_read_history(lua_State *L) {
  lua_pushboolean(L, read_history(luaL_checkstring(L, 1)) == 0);
  return 1;
}

/* Appends the newest entry to path (creating it), then keeps its last max lines. */
static int l_append_history(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int max = (int)luaL_optinteger(L, 2, 1000);
  FILE *f = fopen(path, "a"); /* append_history needs an existing file */
  if (!f) {
    lua_pushboolean(L, 0);
    return 1;
  }
  fclose(f);
  int ok = append_history(1, path) == 0;
  history_truncate_file(path, max);
  lua_pushboolean(L, ok);
  return 1;
}

#endif /* LG_HAVE_READLINE */

int luaopen_lunagrad_readline(lua_State *L) {
  static const luaL_Reg fns[] = {{"call", l_call},
                                 {"catch_interrupt", l_catch_interrupt},
                                 {"interrupted", l_interrupted},
#ifdef LG_HAVE_READLINE
                                 {"readline", l_readline},
                                 {"set_completer", l_set_completer},
                                 {"add_history", l_add_history},
                                 {"read_history", l_read_history},
                                 {"append_history", l_append_history},
#endif
                                 {NULL, NULL}};
  luaL_newlib(L, fns);
#ifdef LG_HAVE_READLINE
  rl_readline_name = "lunagrad";
  rl_catch_signals = 0; /* SIGINT is ours (see l_readline) */
  rl_attempted_completion_function = complete;
  rl_variable_bind("show-all-if-ambiguous", "on"); /* one Tab lists the candidates */
  /* '.' and ':' are part of a word, so "x:su<TAB>" completes "x:su" as a whole */
  rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(,)[]+-*/%^~#";
  lua_pushboolean(L, 1);
#else
  lua_pushboolean(L, 0);
#endif
  lua_setfield(L, -2, "editing");
  return 1;
}
