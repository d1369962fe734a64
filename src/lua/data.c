/* Binding of IDX files (src/io/idx.c), image decoding and the MNIST-M blend
 * (src/io/image.c). Module functions only, not Tensor methods:
 *   core.read_idx(path [, dtype])        -> Tensor, type name ("ubyte", ...)
 *   core.parse_idx(bytes [, dtype])      -> the same, from a file image in a string
 *   core.write_idx(path, t, type, gzip)
 *   core.load_image(path)                -> H x W x 3 float32 Tensor, 0..255
 *   core.decode_image(bytes)             -> the same, from a file image in a string
 *   core.mnistm_blend(digits, {photo, ...}, seed, threshold) -> images, sources
 * lua/lunagrad/data/idx.lua wraps the IDX ones with options tables; errors
 * read "lunagrad.data.<fn>: ...". */
#include <string.h>

#include "io/idx.h"
#include "io/image.h"
#include "lua/binding.h"

static int raise_data(lua_State *L, const char *fn) {
  return luaL_error(L, "lunagrad.data.%s: %s", fn, lg_error());
}

/* Paths are handed to C's open(), so an embedded NUL would silently cut them. */
static const char *check_path(lua_State *L, int idx, const char *fn) {
  size_t len;
  if (lua_type(L, idx) != LUA_TSTRING)
    luaL_error(L, "lunagrad.data.%s: bad argument #%d (path string expected, got %s)", fn, idx,
               luaL_typename(L, idx));
  const char *s = lua_tolstring(L, idx, &len);
  if (strlen(s) != len) luaL_error(L, "lunagrad.data.%s: path contains a NUL byte", fn);
  return s;
}

/* Optional dtype name at idx: nil means the IDX default for the file. */
static int opt_idx_dtype(lua_State *L, int idx, const char *fn) {
  if (lua_isnoneornil(L, idx)) return LG_IDX_DTYPE_DEFAULT;
  const char *name = lua_tostring(L, idx);
  lg_dtype d = LG_F32;
  if (!name || lua_type(L, idx) != LUA_TSTRING || lg_dtype_from_name(name, &d))
    luaL_error(L, "lunagrad.data.%s: dtype must be 'float32', 'float64' or 'int64', got %s", fn,
               name ? name : luaL_typename(L, idx));
  return (int)d;
}

static int push_idx_result(lua_State *L, lg_tensor *t, int type, const char *fn) {
  if (!t) return raise_data(L, fn);
  lgL_push(L, t, fn);
  lua_pushstring(L, lg_idx_type_name(type));
  return 2;
}

static int l_read_idx(lua_State *L) {
  const char *path = check_path(L, 1, "read_idx");
  int dtype = opt_idx_dtype(L, 2, "read_idx"), type = 0;
  lg_tensor *t = lg_idx_read(path, dtype, &type); /* before reading `type` */
  return push_idx_result(L, t, type, "read_idx");
}

static int l_parse_idx(lua_State *L) {
  size_t len;
  const char *bytes = luaL_checklstring(L, 1, &len);
  int dtype = opt_idx_dtype(L, 2, "parse_idx"), type = 0;
  lg_tensor *t = lg_idx_parse(bytes, len, dtype, &type);
  return push_idx_result(L, t, type, "parse_idx");
}

static int l_write_idx(lua_State *L) {
  const char *path = check_path(L, 1, "write_idx");
  lg_tensor *t = lgL_check(L, 2, "data.write_idx");
  const char *type_name = luaL_checkstring(L, 3);
  lg_idx_type type;
  if (lg_idx_type_from_name(type_name, &type))
    return luaL_error(L,
                      "lunagrad.data.write_idx: type must be 'ubyte', 'sbyte', 'short', 'int', 'float' or "
                      "'double', got '%s'",
                      type_name);
  if (lg_idx_write(path, t, type, lua_toboolean(L, 4))) return raise_data(L, "write_idx");
  return 0;
}

static int l_load_image(lua_State *L) {
  const char *path = check_path(L, 1, "load_image");
  lg_tensor *t = lg_image_load(path);
  if (!t) return raise_data(L, "load_image");
  return lgL_push(L, t, "data.load_image");
}

static int l_decode_image(lua_State *L) {
  size_t len;
  const char *bytes = luaL_checklstring(L, 1, &len);
  lg_tensor *t = lg_image_decode(bytes, len);
  if (!t) return raise_data(L, "decode_image");
  return lgL_push(L, t, "data.decode_image");
}

static int l_mnistm_blend(lua_State *L) {
  lg_tensor *digits = lgL_check(L, 1, "data.mnistm_blend");
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer seed = luaL_checkinteger(L, 3);
  double threshold = luaL_checknumber(L, 4);
  lua_Integer n = luaL_len(L, 2);
  if (n < 1 || n > 1 << 20) return luaL_error(L, "lunagrad.data.mnistm_blend: expects 1 or more photos");
  /* The array lives in a userdata so an error below cannot leak it; the
   * tensors stay referenced by the photos table meanwhile. */
  lg_tensor **photos = lua_newuserdatauv(L, (size_t)n * sizeof *photos, 0);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, 2, i);
    photos[i - 1] = lgL_test(L, -1);
    if (!photos[i - 1])
      return luaL_error(L, "lunagrad.data.mnistm_blend: photo %d is not a Tensor (got %s)", (int)i,
                        luaL_typename(L, -1));
    lua_pop(L, 1);
  }
  lg_tensor *sources = NULL;
  lg_tensor *out = lg_mnistm_blend(digits, photos, (int)n, threshold, (uint64_t)seed, &sources);
  if (!out) return raise_data(L, "mnistm_blend");
  lgL_push(L, out, "data.mnistm_blend");
  lgL_push(L, sources, "data.mnistm_blend");
  return 2;
}

void lgL_open_data(lua_State *L) {
  static const luaL_Reg fns[] = {{"read_idx", l_read_idx},         {"parse_idx", l_parse_idx},
                                 {"write_idx", l_write_idx},       {"load_image", l_load_image},
                                 {"decode_image", l_decode_image}, {"mnistm_blend", l_mnistm_blend},
                                 {NULL, NULL}};
  /* module functions only: they are not Tensor methods */
  for (const luaL_Reg *f = fns; f->name; f++) {
    lua_pushcfunction(L, f->func);
    lua_setfield(L, -2, f->name);
  }
}
