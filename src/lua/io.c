/* Binding of safetensors save and load (src/io/safetensors.c):
 *   core.save_safetensors(path, {name = Tensor, ...} [, {key = "value", ...}])
 *   core.load_safetensors(path) -> {name = Tensor, ...}, {key = "value", ...}
 *   core.parse_safetensors(bytes) -> the same, from a file image in a string
 * lua/lunagrad/io.lua wraps them as lunagrad.save / lunagrad.load; errors read
 * "lunagrad.save: ..." and "lunagrad.load: ...". */
#include <string.h>

#include "io/safetensors.h"
#include "lua/binding.h"

#define LOAD_RESULT "lunagrad.safetensors_result"

/* A string key or value that C can hold: Lua strings with an embedded NUL
 * would be cut short silently, so they are refused. */
static const char *check_cstring(lua_State *L, int idx, const char *fn, const char *what) {
  size_t len;
  if (lua_type(L, idx) != LUA_TSTRING)
    luaL_error(L, "lunagrad.%s: %s must be a string, got %s", fn, what, luaL_typename(L, idx));
  const char *s = lua_tolstring(L, idx, &len);
  if (strlen(s) != len) luaL_error(L, "lunagrad.%s: %s contains a NUL byte", fn, what);
  return s;
}

/* Counts the entries of the table at idx. */
static size_t table_count(lua_State *L, int idx) {
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    n++;
    lua_pop(L, 1);
  }
  return n;
}

static int l_save_safetensors(lua_State *L) {
  const char *path = check_cstring(L, 1, "save", "path");
  if (!lua_istable(L, 2))
    luaL_error(L, "lunagrad.save: bad argument #2 (table of tensors expected, got %s)", luaL_typename(L, 2));
  bool has_meta = !lua_isnoneornil(L, 3);
  if (has_meta && !lua_istable(L, 3))
    luaL_error(L, "lunagrad.save: bad argument #3 (metadata table expected, got %s)", luaL_typename(L, 3));
  size_t n = table_count(L, 2), n_meta = has_meta ? table_count(L, 3) : 0;
  /* Arrays live in a userdata so an error below cannot leak them. The strings
   * they point to are keys and values of tables on the stack, alive until we return. */
  const void **slots = lua_newuserdatauv(L, (2 * n + 2 * n_meta + 1) * sizeof *slots, 0);
  const char **names = (const char **)slots, **keys = names + n, **values = keys + n_meta;
  lg_tensor **tensors = (lg_tensor **)(values + n_meta);
  size_t i = 0;
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    names[i] = check_cstring(L, -2, "save", "tensor name");
    tensors[i] = lgL_test(L, -1);
    if (!tensors[i]) {
      if (luaL_testudata(L, -1, LGL_TENSOR))
        luaL_error(L, "lunagrad.save: tensor '%s' was already released", names[i]);
      luaL_error(L, "lunagrad.save: value of '%s' is not a Tensor (got %s)", names[i], luaL_typename(L, -1));
    }
    i++;
    lua_pop(L, 1);
  }
  i = 0;
  if (has_meta) {
    lua_pushnil(L);
    while (lua_next(L, 3)) {
      keys[i] = check_cstring(L, -2, "save", "metadata key");
      values[i++] = check_cstring(L, -1, "save", "metadata value");
      lua_pop(L, 1);
    }
  }
  if (lg_safetensors_save(path, n, names, tensors, n_meta, keys, values)) lgL_raise(L, "save");
  return 0;
}

static int result_gc(lua_State *L) {
  lg_safetensors_free(luaL_checkudata(L, 1, LOAD_RESULT));
  return 0;
}

/* Reads a file (path) or a whole file image held in a Lua string (bytes) and
 * returns the tensors and metadata tables. */
static int load_or_parse(lua_State *L, bool from_memory, const char *fn) {
  const char *arg = NULL;
  size_t len = 0;
  if (from_memory) arg = luaL_checklstring(L, 1, &len);
  else arg = check_cstring(L, 1, fn, "path");
  /* The result is owned by a userdata until each tensor is handed to Lua, so
   * a memory error while building the tables frees what is left. */
  lg_safetensors *st = lua_newuserdatauv(L, sizeof *st, 0);
  memset(st, 0, sizeof *st);
  luaL_setmetatable(L, LOAD_RESULT);
  if (from_memory ? lg_safetensors_parse(arg, len, st) : lg_safetensors_load(arg, st)) lgL_raise(L, fn);
  lua_createtable(L, 0, (int)st->n_tensors);
  for (size_t i = 0; i < st->n_tensors; i++) {
    lua_pushstring(L, st->names[i]);
    lgL_push(L, st->tensors[i], fn);
    st->tensors[i] = NULL;
    lua_rawset(L, -3);
  }
  lua_createtable(L, 0, (int)st->n_meta);
  for (size_t i = 0; i < st->n_meta; i++) {
    lua_pushstring(L, st->meta_keys[i]);
    lua_pushstring(L, st->meta_values[i]);
    lua_rawset(L, -3);
  }
  lg_safetensors_free(st);
  return 2;
}

static int l_load_safetensors(lua_State *L) { return load_or_parse(L, false, "load"); }

/* The in-memory parser, for specs and fuzzing: same checks as load. */
static int l_parse_safetensors(lua_State *L) { return load_or_parse(L, true, "parse_safetensors"); }

void lgL_open_io(lua_State *L) {
  luaL_newmetatable(L, LOAD_RESULT);
  lua_pushcfunction(L, result_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  /* module functions only: they are not Tensor methods */
  lua_pushcfunction(L, l_save_safetensors);
  lua_setfield(L, -2, "save_safetensors");
  lua_pushcfunction(L, l_load_safetensors);
  lua_setfield(L, -2, "load_safetensors");
  lua_pushcfunction(L, l_parse_safetensors);
  lua_setfield(L, -2, "parse_safetensors");
}
