/* One error message per thread: the core reports, the binding raises. */
#include <stdarg.h>
#include <stdio.h>

#include "lg.h"

static _Thread_local char message[512];
/* lg_failures(): did a call in between fail? Not thread-local (a TLS access from a
 * shared library is a call, and the engine reads it twice per node): a failure on
 * a worker thread still moves it, which is all a reader asks. */
static unsigned long failures;

const char *lg_error(void) { return message[0] ? message : "unknown error"; }

static void set_message(const char *fmt, va_list ap) {
  vsnprintf(message, sizeof message, fmt, ap);
  failures++;
}

unsigned long lg_failures(void) { return failures; }

void *lg_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_message(fmt, ap);
  va_end(ap);
  return NULL;
}

int lg_failed(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_message(fmt, ap);
  va_end(ap);
  return -1;
}

const char *lg_shape_str(const lg_tensor *t, char *buf, size_t len) {
  size_t used = 0;
  used += (size_t)snprintf(buf, len, "[");
  for (int d = 0; d < t->ndim && used < len; d++)
    used += (size_t)snprintf(buf + used, len - used, d ? ",%lld" : "%lld", (long long)t->shape[d]);
  if (used < len) snprintf(buf + used, len - used, "]");
  return buf;
}
