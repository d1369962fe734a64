/* PNG writing and a tiny bitmap font, for lunagrad.plot (Debian's libstb-dev):
 *   core._png_encode(w, h, channels, pixels) -> PNG bytes. pixels: a string of
 *       w*h*channels bytes, rows top to bottom (channels 1..4: gray, gray+alpha, RGB, RGBA).
 *       Compressed with zlib (level 9) instead of stb's own deflate.
 *   core._text_rects(text) -> rects, width, height: the glyph quads of stb_easy_font
 *       as a flat list {x, y, w, h, ...} in font pixels (cap height 7), so that
 *       plot.png can draw labels without a font file. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "lua/binding.h"

void lgL_open_image_write(lua_State *L);

static unsigned char *zlib_compress(unsigned char *data, int len, int *out_len, int quality) {
  (void)quality;
  uLongf cap = compressBound((uLong)len);
  unsigned char *out = malloc(cap);
  if (!out) return NULL;
  if (compress2(out, &cap, data, (uLong)len, 9) != Z_OK) {
    free(out);
    return NULL;
  }
  *out_len = (int)cap;
  return out;
}

#define STBIW_ZLIB_COMPRESS zlib_compress
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
/* stb declares static functions this file does not use (the rest of the file is clean under -Wall -Wextra) */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_image_write.h>
#include <stb/stb_easy_font.h>

typedef struct {
  unsigned char *data;
  size_t len, cap;
  int failed;
} membuf;

static void append(void *ctx, void *data, int size) {
  membuf *b = ctx;
  if (b->failed) return;
  if (b->len + (size_t)size > b->cap) {
    size_t cap = (b->cap ? b->cap * 2 : 4096);
    while (cap < b->len + (size_t)size) cap *= 2;
    unsigned char *p = realloc(b->data, cap);
    if (!p) {
      b->failed = 1;
      return;
    }
    b->data = p, b->cap = cap;
  }
  memcpy(b->data + b->len, data, (size_t)size);
  b->len += (size_t)size;
}

static int l_png_encode(lua_State *L) {
  lua_Integer w = luaL_checkinteger(L, 1), h = luaL_checkinteger(L, 2), c = luaL_checkinteger(L, 3);
  size_t n;
  const char *pixels = luaL_checklstring(L, 4, &n);
  if (w < 1 || h < 1 || w > 32768 || h > 32768)
    return luaL_error(L, "lunagrad._png_encode: size %dx%d out of range", (int)w, (int)h);
  if (c < 1 || c > 4) return luaL_error(L, "lunagrad._png_encode: channels must be 1..4, got %d", (int)c);
  if (n != (size_t)(w * h * c))
    return luaL_error(L, "lunagrad._png_encode: %dx%dx%d image needs %d bytes, got %d", (int)w, (int)h, (int)c,
                      (int)(w * h * c), (int)n);
  membuf b = {0};
  int ok = stbi_write_png_to_func(append, &b, (int)w, (int)h, (int)c, pixels, (int)(w * c));
  if (!ok || b.failed) {
    free(b.data);
    return luaL_error(L, "lunagrad._png_encode: out of memory");
  }
  lua_pushlstring(L, (const char *)b.data, b.len);
  free(b.data);
  return 1;
}

static int l_text_rects(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  if (n > 4096) return luaL_error(L, "lunagrad._text_rects: text longer than 4096 characters");
  char *text = malloc(n + 1);
  size_t cap = 300 * (n + 1) + 64; /* ~270 bytes per character (stb_easy_font's estimate) */
  float *quads = malloc(cap);
  if (!text || !quads) {
    free(text), free(quads);
    return luaL_error(L, "lunagrad._text_rects: out of memory");
  }
  memcpy(text, s, n + 1);
  int count = stb_easy_font_print(0, 0, text, NULL, quads, (int)cap);
  lua_createtable(L, 4 * count, 0);
  for (int q = 0; q < count; q++) {
    /* 4 vertices of 16 bytes each (x, y, z floats and 4 colour bytes) */
    const float *v = quads + q * 16;
    float x0 = v[0], y0 = v[1], x1 = v[0], y1 = v[1];
    for (int k = 1; k < 4; k++) {
      float x = v[4 * k], y = v[4 * k + 1];
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
    lua_pushnumber(L, x0), lua_rawseti(L, -2, 4 * q + 1);
    lua_pushnumber(L, y0), lua_rawseti(L, -2, 4 * q + 2);
    lua_pushnumber(L, x1 - x0), lua_rawseti(L, -2, 4 * q + 3);
    lua_pushnumber(L, y1 - y0), lua_rawseti(L, -2, 4 * q + 4);
  }
  lua_pushinteger(L, stb_easy_font_width(text));
  lua_pushinteger(L, stb_easy_font_height(text));
  free(text), free(quads);
  return 3;
}

void lgL_open_image_write(lua_State *L) {
  static const luaL_Reg fns[] = {{"_png_encode", l_png_encode}, {"_text_rects", l_text_rects}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
