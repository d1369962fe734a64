rockspec_format = "3.0"
package = "lunagrad"
version = "scm-1"
source = { url = "git+file:///dev/null" }
description = {
  summary = "Deep learning runtime for Lua 5.4: C tensors, autograd and the Gradient Reversal Layer",
  detailed = [[
Tensors, reverse-mode autograd, nn modules and optimisers with a C core on
OpenBLAS, and the Gradient Reversal Layer of Ganin & Lempitsky (2015) for
domain-adversarial training.]],
  license = "MIT",
}
dependencies = { "lua >= 5.4" }
external_dependencies = {
  OPENBLAS = { library = "openblas" },
}
build = {
  type = "builtin",
  modules = {
    ["lunagrad.core"] = {
      sources = {
        "src/lg_autograd.c",
        "src/lg_blas.c",
        "src/lg_error.c",
        "src/lg_iter.c",
        "src/lg_storage.c",
        "src/lg_tensor.c",
        "src/lua_conv.c",
        "src/lua_core.c",
        "src/lua_create.c",
        "src/lua_io.c",
        "src/lua_linalg.c",
        "src/lua_math.c",
        "src/lua_nn.c",
        "src/lua_reduce.c",
        "src/lua_tensor.c",
        "src/ops/elementwise.c",
        "src/ops/grl.c",
        "src/ops/reduce.c",
        "src/ops/views.c",
      },
      libraries = { "openblas", "m" },
      defines = { "_DEFAULT_SOURCE" },
      incdirs = { "$(OPENBLAS_INCDIR)" },
      libdirs = { "$(OPENBLAS_LIBDIR)" },
    },
    -- lua modules
    ["lunagrad"] = "lua/lunagrad/init.lua",
    ["lunagrad.format"] = "lua/lunagrad/format.lua",
    ["lunagrad.io"] = "lua/lunagrad/io.lua",
    ["lunagrad.json"] = "lua/lunagrad/json.lua",
  },
  install = {
    bin = { lunagrad = "bin/lunagrad" },
  },
}
