/* The temporaries scope of backward rules: every op result a rule makes is
 * adopted here (the scope takes the caller's reference), and the engine closes
 * the scope after the rule, releasing them all. So rules are plain expressions
 * of ops, with no release calls and, because the G_* wrappers of ops/rules.h
 * pass NULL through, no error checks either. Scopes nest (a mark per open). */
#include <stdlib.h>

#include "core/internal.h"

static lg_tensor **held;
static size_t n_held, cap_held;

size_t lg_scope_open(void) { return n_held; }

lg_tensor *lg_adopt(lg_tensor *t) {
  if (!t) return NULL;
  if (n_held == cap_held) {
    size_t cap = cap_held ? cap_held * 2 : 64;
    lg_tensor **grown = realloc(held, cap * sizeof *grown);
    if (!grown) {
      lg_release(t);
      return lg_fail("out of memory in a backward rule");
    }
    held = grown;
    cap_held = cap;
  }
  held[n_held++] = t;
  return t;
}

void lg_scope_close(size_t mark) {
  while (n_held > mark) lg_release(held[--n_held]);
}
