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
        -- every file of src/ and src/ops/ (spec/rockspec_spec.lua checks the list)
      },
      libraries = { "openblas", "m", "gomp" },
      defines = { "_DEFAULT_SOURCE" },
      incdirs = { "$(OPENBLAS_INCDIR)" },
      libdirs = { "$(OPENBLAS_LIBDIR)" },
    },
    ["lunagrad"] = "lua/lunagrad/init.lua",
  },
}
