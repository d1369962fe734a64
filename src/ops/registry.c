/* Every registered op, in registry order: what the specs iterate over
 * (lunagrad.core._ops()) to gradcheck and gradgradcheck each one. */
#include "core/internal.h"

#define LG_UNARY(name, ...) &lg_op_##name,
#define LG_BINARY(name, ...) &lg_op_##name,
#define LG_OP(name) &lg_op_##name,
const lg_op_info *const lg_registry[] = {
#include "ops/ops.def"
    NULL};
#undef LG_UNARY
#undef LG_BINARY
#undef LG_OP
