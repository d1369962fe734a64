/* Arguments from Lua: dims (1-based), shapes, numbers, dtypes, options, and
 * nested tables into tensors (lunagrad.tensor). */
#include <math.h>
#include <string.h>

#include "core/internal.h"
#include "lua/binding.h"

/* ---- arguments ------------------------------------------------------------ */

int lgL_dim(lua_State *L, int idx, int ndim, const char *fn) {
  if (!lua_isinteger(L, idx)) {
    if (lua_type(L, idx) == LUA_TNUMBER) luaL_error(L, "lunagrad.%s: dim must be an integer", fn);
    luaL_error(L, "lunagrad.%s: bad argument #%d (dim expected, got %s)", fn, idx, luaL_typename(L, idx));
  }
  lua_Integer d = lua_tointeger(L, idx);
  int64_t z = lgL_zero_based(d, ndim > 0 ? ndim : 1, true); /* a 0-d tensor takes dim 1 (or -1) */
  if (z < 0)
    luaL_error(L, "lunagrad.%s: dim %I out of range for a %d-d tensor (dims are 1-based; -1 is the last)",
               fn, d, ndim);
  return (int)z;
}

int lgL_optdim(lua_State *L, int idx, int ndim, const char *fn, int def) {
  return lua_isnoneornil(L, idx) ? def : lgL_dim(L, idx, ndim, fn);
}

double lgL_number(lua_State *L, int idx, const char *fn, const char *what) {
  int isnum;
  double v = lua_tonumberx(L, idx, &isnum);
  if (!isnum || lua_type(L, idx) != LUA_TNUMBER)
    luaL_error(L, "lunagrad.%s: %s must be a number, got %s", fn, what, luaL_typename(L, idx));
  return v;
}

/* An integer argument; floats with an integral value count (1e4 is a float). */
lua_Integer lgL_integer(lua_State *L, int idx, const char *fn, const char *what) {
  int ok = 0;
  lua_Integer v = lua_type(L, idx) == LUA_TNUMBER ? lua_tointegerx(L, idx, &ok) : 0;
  if (!ok)
    luaL_error(L, "lunagrad.%s: %s must be an integer, got %s", fn, what,
               lua_type(L, idx) == LUA_TNUMBER ? "a fraction" : luaL_typename(L, idx));
  return v;
}

static int64_t shape_entry(lua_State *L, int idx, const char *fn) {
  if (lua_type(L, idx) == LUA_TNUMBER && !lua_isinteger(L, idx) && !lua_tointegerx(L, idx, NULL)) {
    double d = lua_tonumber(L, idx);
    if (d == floor(d)) { /* integral but beyond int64 (1e300): clearly too large */
      char buf[32];
      snprintf(buf, sizeof buf, "%g", d);
      luaL_error(L, "lunagrad.%s: size %s is too large", fn, buf);
    }
  }
  lua_Integer v = lgL_integer(L, idx, fn, "sizes");
  if (v < -1) luaL_error(L, "lunagrad.%s: negative size %I", fn, v);
  return v;
}

int lgL_shape(lua_State *L, int idx, int64_t *shape, const char *fn, int *next) {
  int ndim = 0;
  if (lua_type(L, idx) == LUA_TTABLE && luaL_getmetafield(L, idx, "__name") == LUA_TNIL) {
    lua_Integer n = luaL_len(L, idx);
    if (n > LG_MAX_DIMS) luaL_error(L, "lunagrad.%s: at most %d dims", fn, LG_MAX_DIMS);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_geti(L, idx, i);
      shape[ndim++] = shape_entry(L, -1, fn);
      lua_pop(L, 1);
    }
    *next = idx + 1;
    return ndim;
  }
  while (lua_type(L, idx) == LUA_TNUMBER) {
    if (ndim == LG_MAX_DIMS) luaL_error(L, "lunagrad.%s: at most %d dims", fn, LG_MAX_DIMS);
    shape[ndim++] = shape_entry(L, idx, fn);
    idx++;
  }
  *next = idx;
  return ndim;
}

lg_dtype lgL_optdtype(lua_State *L, int idx, lg_dtype def, const char *fn) {
  if (lua_type(L, idx) != LUA_TTABLE) return def;
  lg_dtype d = def;
  if (lua_getfield(L, idx, "dtype") == LUA_TSTRING && lg_dtype_from_name(lua_tostring(L, -1), &d))
    lgL_raise(L, fn);
  else if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
    luaL_error(L, "lunagrad.%s: dtype must be a string", fn);
  lua_pop(L, 1);
  return d;
}

bool lgL_optbool(lua_State *L, int idx, const char *field, bool def) {
  if (lua_type(L, idx) != LUA_TTABLE) return def;
  lua_getfield(L, idx, field);
  bool v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* ---- nested tables ---------------------------------------------------------- */

typedef struct {
  int ndim;
  int64_t shape[LG_MAX_DIMS];
  lg_dtype dtype;
  double *data;   /* float dtypes: the values as doubles */
  int64_t *ints;  /* int64: the values themselves (doubles would round above 2^53) */
  int64_t n;
} table_reader;

/* A Lua number as int64: integers exactly, floats truncated like a C cast but
 * only when the result exists (a NaN or 1e300 cast is undefined behaviour). */
int64_t lgL_int64(lua_State *L, int idx, const char *fn) {
  if (lua_isinteger(L, idx)) return (int64_t)lua_tointeger(L, idx);
  double d = lua_tonumber(L, idx);
  if (!(d > -9223372036854775809.0 && d < 9223372036854775808.0)) {
    char buf[32];
    snprintf(buf, sizeof buf, "%g", d);
    luaL_error(L, "lunagrad.%s: value %s cannot be converted to int64", fn, buf);
  }
  return (int64_t)d;
}

/* First pass: the shape, following first elements. */
static void probe_shape(lua_State *L, int idx, table_reader *r, const char *fn) {
  lua_pushvalue(L, idx);
  while (lua_type(L, -1) == LUA_TTABLE) {
    if (r->ndim == LG_MAX_DIMS) luaL_error(L, "lunagrad.%s: table nested deeper than %d", fn, LG_MAX_DIMS);
    r->shape[r->ndim++] = (int64_t)lua_rawlen(L, -1);
    if (lua_rawlen(L, -1) == 0) break;
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
  }
  lua_pop(L, 1);
}

/* Second pass: every sub-table must have the probed length at its depth.
 * Run first without a buffer (validation only), then again to copy. */
static void read_values(lua_State *L, int depth, table_reader *r, const char *fn) {
  if (depth == r->ndim) {
    if (lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "lunagrad.%s: table holds a %s where a number was expected", fn, luaL_typename(L, -1));
    if (r->ints) r->ints[r->n++] = lgL_int64(L, -1, fn);
    else if (r->data) r->data[r->n++] = lua_tonumber(L, -1);
    return;
  }
  if (lua_type(L, -1) != LUA_TTABLE)
    luaL_error(L, "lunagrad.%s: ragged table (a %s where a list of %d was expected)", fn,
               luaL_typename(L, -1), (int)r->shape[depth]);
  if ((int64_t)lua_rawlen(L, -1) != r->shape[depth])
    luaL_error(L, "lunagrad.%s: ragged table (a list of %d where %d was expected at depth %d)", fn,
               (int)lua_rawlen(L, -1), (int)r->shape[depth], depth + 1);
  luaL_checkstack(L, 2, "nested table");
  for (int64_t i = 1; i <= r->shape[depth]; i++) {
    lua_rawgeti(L, -1, (lua_Integer)i);
    read_values(L, depth + 1, r, fn);
    lua_pop(L, 1);
  }
}

static lg_tensor *tensor_from_table(lua_State *L, int idx, lg_dtype dtype, const char *fn) {
  table_reader r = {0};
  r.dtype = dtype;
  idx = lua_absindex(L, idx);
  probe_shape(L, idx, &r, fn);
  /* The probed shape follows first elements only, so its product can exceed
   * what the table holds (shared sub-tables, or a ragged table that the second
   * pass would reject): bound it before allocating, without overflow. */
  int64_t n = 1;
  for (int d = 0; d < r.ndim; d++) {
    if (r.shape[d] && n > (int64_t)(((size_t)1 << 40) / sizeof(double)) / r.shape[d])
      luaL_error(L, "lunagrad.%s: table too large (more than 2^37 elements)", fn);
    n *= r.shape[d];
  }
  /* validate before allocating: a ragged table of a few elements can probe
   * as a huge shape ({{{1, 1, ...}, 1, ...}, 1, ...}) */
  lua_pushvalue(L, idx);
  read_values(L, 0, &r, fn);
  lua_pop(L, 1);
  /* the buffer is a Lua userdata so an error cannot leak it */
  void *buf = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof(double), 0);
  if (dtype == LG_I64) r.ints = buf;
  else r.data = buf;
  lua_pushvalue(L, idx);
  read_values(L, 0, &r, fn);
  lua_pop(L, 1);
  lg_tensor *t;
  if (dtype == LG_I64) {
    t = lg_empty(r.ndim, r.shape, LG_I64);
    if (t && n) memcpy(lg_data_ptr(t), r.ints, (size_t)n * sizeof(int64_t));
  } else {
    t = lg_from_doubles(r.ndim, r.shape, r.data, dtype);
  }
  lua_pop(L, 1);
  return t;
}

lg_tensor *lgL_totensor(lua_State *L, int idx, const char *fn, lg_dtype like) {
  idx = lua_absindex(L, idx);
  lg_tensor *t = lgL_test(L, idx);
  if (t) return t;
  int type = lua_type(L, idx);
  if (type == LUA_TNUMBER && like == LG_I64) {
    int64_t v = lgL_int64(L, idx, fn);
    t = lg_empty(0, NULL, LG_I64);
    if (t) *(int64_t *)lg_data_ptr(t) = v;
  } else if (type == LUA_TNUMBER) t = lg_scalar(lua_tonumber(L, idx), like);
  else if (type == LUA_TTABLE) t = tensor_from_table(L, idx, like, fn);
  else if (luaL_testudata(L, idx, LGL_TENSOR)) lgL_check(L, idx, fn); /* released: raises */
  else luaL_error(L, "lunagrad.%s: bad argument #%d (Tensor, number or table expected, got %s)", fn,
                  idx, luaL_typename(L, idx));
  lgL_push(L, t, fn);
  lua_replace(L, idx);
  return t;
}

/* lunagrad.tensor(table_or_number [, {dtype=, requires_grad=}]) */
static int l_tensor(lua_State *L) {
  static const char *const KEYS[] = {"dtype", "requires_grad", NULL};
  lgL_check_options(L, 2, "tensor", KEYS);
  lg_dtype dtype = lgL_optdtype(L, 2, LG_F32, "tensor");
  if (lgL_test(L, 1)) { /* a copy, like torch.tensor(t) */
    lgL_push(L, lg_to_dtype(lgL_test(L, 1), dtype), "tensor");
    lg_tensor *c = lgL_test(L, -1);
    if (c == lgL_test(L, 1)) lgL_push(L, lg_clone(c), "tensor");
  } else {
    lua_pushvalue(L, 1);
    lgL_totensor(L, -1, "tensor", dtype);
  }
  lg_tensor *t = lgL_test(L, -1);
  if (lgL_optbool(L, 2, "requires_grad", false) && lg_set_requires_grad(t, true)) lgL_raise(L, "tensor");
  return 1;
}

void lgL_open_convert(lua_State *L) {
  lua_pushcfunction(L, l_tensor);
  lua_setfield(L, -2, "tensor");
}
