/* Binding of the recurrent op (ops/nn_rnn.c): a module function of lunagrad.core,
 * called by nn.RNN / nn.LSTM / nn.GRU and the cells once per layer and direction.
 *
 *   core.rnn(mode, x, h0, c0|nil, w_ih, w_hh, b_ih|nil, b_hh|nil, w_hr|nil, lengths|nil, reverse)
 *     mode     'rnn_tanh' | 'rnn_relu' | 'lstm' | 'gru'
 *     x        [T, B, input_size] (time-major); h0 [B, P]; c0 [B, hidden] (lstm)
 *     lengths  int64 tensor [B] of sequence lengths in 1..T, or nil (all T)
 *   returns Y [T+1, B, P (+ hidden for lstm)]: rows 1..T the outputs (and cells),
 *   row T+1 the final state. */
#include <string.h>

#include "core/internal.h"
#include "lua/binding.h"

/* ops/nn_rnn.c (not in lg.h: the nn modules are its only callers) */
lg_tensor *lg_rnn(int mode, lg_tensor *x, lg_tensor *h0, lg_tensor *c0, lg_tensor *w_ih, lg_tensor *w_hh,
                  lg_tensor *b_ih, lg_tensor *b_hh, lg_tensor *w_hr, lg_tensor *lengths, bool reverse);

static lg_tensor *opt_tensor(lua_State *L, int idx, const char *fn) {
  return lua_isnoneornil(L, idx) ? NULL : lgL_check(L, idx, fn);
}

static int l_rnn(lua_State *L) {
  static const char *const MODES[] = {"rnn_tanh", "rnn_relu", "lstm", "gru", NULL};
  const char *fn = "rnn";
  const char *m = lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1) : NULL;
  int mode = -1;
  for (int k = 0; m && MODES[k]; k++)
    if (strcmp(m, MODES[k]) == 0) mode = k;
  if (mode < 0)
    return luaL_error(L, "lunagrad.%s: mode must be 'rnn_tanh', 'rnn_relu', 'lstm' or 'gru', got %s", fn,
                      m ? m : luaL_typename(L, 1));
  lg_tensor *x = lgL_check(L, 2, fn), *h0 = lgL_check(L, 3, fn), *c0 = opt_tensor(L, 4, fn);
  lg_tensor *w_ih = lgL_check(L, 5, fn), *w_hh = lgL_check(L, 6, fn);
  lg_tensor *b_ih = opt_tensor(L, 7, fn), *b_hh = opt_tensor(L, 8, fn), *w_hr = opt_tensor(L, 9, fn);
  lg_tensor *lengths = opt_tensor(L, 10, fn);
  if (!lua_isnoneornil(L, 11) && !lua_isboolean(L, 11))
    return luaL_error(L, "lunagrad.%s: reverse must be a boolean, got %s", fn, luaL_typename(L, 11));
  bool reverse = lua_toboolean(L, 11);
  return lgL_push(L, lg_rnn(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, reverse), fn);
}

void lgL_open_rnn(lua_State *L) {
  static const luaL_Reg fns[] = {{"rnn", l_rnn}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0); /* a module function, not a Tensor method */
}
