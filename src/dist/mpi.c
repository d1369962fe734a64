#define _GNU_SOURCE /* dladdr, on_exit */
/* lunagrad.distributed_mpi: the MPI backend of lunagrad.distributed (Lua side:
 * lua/lunagrad/distributed.lua, which is the documented API; docs/distributed.md).
 *
 * Built only when MPI is there (Makefile: build/lunagrad/distributed_mpi.so, with
 * mpicc). It reaches the core's tensors through the function table that core.so
 * exports as `lunagrad.core._c_api` (src/lua/c_api.h explains why a table and not
 * linking against core.so); it includes src/lg.h for the types only. The core
 * never includes mpi.h.
 *
 * What is here:
 * - init / finalize (MPI_Init_thread FUNNELED: only the Lua thread calls MPI, the
 *   OpenMP threads never do), rank, size, local rank (MPI_COMM_TYPE_SHARED).
 * - Collectives on a private duplicate of MPI_COMM_WORLD, every one started
 *   non-blocking and returning a handle; the blocking forms wait on it at once.
 *   Each user collective first checks with one small all-reduce that every rank
 *   passed the same dtype and shape, so a mismatch is a Lua error on every rank
 *   instead of MPI reading past a buffer.
 * - Every wait polls MPI_Test against a watchdog (`timeout` seconds, init's
 *   option): past it the rank prints what it waited for and calls MPI_Abort, so
 *   a dead or diverged peer ends the job instead of hanging it.
 * - The DDP reducer: gradients in buckets, each all-reduced (or all-gathered and
 *   summed in rank order, deterministic mode) as soon as backward has written its
 *   last gradient, from the core's grad-ready hook (lg_set_grad_ready_hook).
 * - An exit handler (on_exit): a rank leaving with a non-zero status (uncaught Lua
 *   error in lua5.4 or lunagrad, os.exit(1)) calls MPI_Abort so mpirun kills the
 *   other ranks; a status 0 exit without dist.finalize() finalizes MPI.
 */
#include <dlfcn.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <mpi.h>

#include "lg.h"
#include "lua/c_api.h"

int luaopen_lunagrad_distributed_mpi(lua_State *L);

static const lg_c_api *api;
static int inited, finalized, world_rank, world_size, local_rank = 0, local_size = 1;
static MPI_Comm comm = MPI_COMM_NULL; /* user collectives */
static double timeout_s = 300;        /* watchdog; 0 = none */
static double comm_seconds;           /* time spent waiting in collectives */

#define MOD "lunagrad.distributed."

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int mpi_fail(lua_State *L, const char *fn, int rc) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  return luaL_error(L, MOD "%s: MPI error on rank %d: %s", fn, world_rank, msg);
}

#define CHECK_MPI(L, fn, call)                 \
  do {                                         \
    int rc_ = (call);                          \
    if (rc_ != MPI_SUCCESS) mpi_fail(L, fn, rc_); \
  } while (0)

static void need_init(lua_State *L, const char *fn) {
  if (!inited) luaL_error(L, MOD "%s: call dist.init() first", fn);
  if (finalized) luaL_error(L, MOD "%s: MPI was already finalized (dist.finalize())", fn);
}

/* Waits for n requests, polling so the watchdog can fire. Returns an MPI code. */
static int timed_wait(MPI_Request *reqs, int n, const char *what) {
  double t0 = now(), deadline = timeout_s > 0 ? t0 + timeout_s : INFINITY;
  int done = 0, rc = MPI_SUCCESS;
  for (long spin = 0;; spin++) {
    rc = MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS || done) break;
    if ((spin & 255) == 255) {
      double t = now();
      if (t > deadline) {
        fprintf(stderr,
                "lunagrad.distributed: rank %d of %d: %s did not complete in %g s (dist.init's timeout): another "
                "rank died, hangs, or the ranks started different collectives; aborting the job\n",
                world_rank, world_size, what, timeout_s);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, 3);
      }
      if (t - t0 > 1e-3) sched_yield(); /* long waits: let the other rank's threads run */
    }
  }
  comm_seconds += now() - t0;
  return rc;
}

/* ---- exit handling --------------------------------------------------------- */

static void at_exit(int status, void *arg) {
  (void)arg;
  if (!inited || finalized) return;
  int fin = 0;
  MPI_Finalized(&fin);
  if (fin) return;
  if (status != 0) {
    fprintf(stderr,
            "lunagrad.distributed: rank %d of %d exits with status %d (see its error above); aborting the job\n",
            world_rank, world_size, status);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status);
  }
  finalized = 1;
  MPI_Finalize();
}

/* Keeps this library (and libmpi) mapped after lua_close's dlclose, for at_exit;
 * makes libmpi's symbols global, which OpenMPI's plugins (dlopened by MPI_Init)
 * need when libmpi itself came in through a RTLD_LOCAL dlopen. */
static void pin_libraries(void) {
  Dl_info info;
  if (dladdr((void *)&at_exit, &info) && info.dli_fname) dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  if (dladdr((void *)&MPI_Init, &info) && info.dli_fname)
    dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD | RTLD_NODELETE);
}

/* ---- init ------------------------------------------------------------------ */

/* init([timeout]) -> rank, size, local_rank, local_size */
static int l_init(lua_State *L) {
  if (!lua_isnoneornil(L, 1)) timeout_s = luaL_checknumber(L, 1);
  if (finalized) return luaL_error(L, MOD "init: MPI was finalized; it cannot be initialised again");
  if (!inited) {
    pin_libraries();
    int already = 0, provided = 0;
    MPI_Initialized(&already);
    if (!already) {
      int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
      if (rc != MPI_SUCCESS) return mpi_fail(L, "init", rc);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
      MPI_Comm_rank(node, &local_rank);
      MPI_Comm_size(node, &local_size);
      MPI_Comm_free(&node);
    }
    inited = 1;
    on_exit(at_exit, NULL);
  }
  lua_pushinteger(L, world_rank);
  lua_pushinteger(L, world_size);
  lua_pushinteger(L, local_rank);
  lua_pushinteger(L, local_size);
  return 4;
}

static int l_finalize(lua_State *L) {
  if (inited && !finalized) {
    finalized = 1;
    MPI_Finalize();
  }
  (void)L;
  return 0;
}

/* abort(message [, code]): prints the message (with the rank) and ends the job. */
static int l_abort(lua_State *L) {
  const char *msg = luaL_optstring(L, 1, "aborted");
  int code = (int)luaL_optinteger(L, 2, 1);
  fprintf(stderr, "lunagrad.distributed: rank %d of %d failed: %s\n", world_rank, world_size, msg);
  fflush(stderr);
  fflush(stdout);
  if (inited && !finalized) MPI_Abort(MPI_COMM_WORLD, code);
  _exit(code);
}

static int l_comm_seconds(lua_State *L) {
  lua_pushnumber(L, comm_seconds);
  return 1;
}

static int l_ncpus(lua_State *L) {
  lua_pushinteger(L, sysconf(_SC_NPROCESSORS_ONLN));
  return 1;
}

/* ---- dtypes, ops, agreement checks ------------------------------------------- */

static MPI_Datatype mpi_type(lg_dtype d) {
  switch (d) {
    case LG_F32: return MPI_FLOAT;
    case LG_F64: return MPI_DOUBLE;
    default: return MPI_INT64_T;
  }
}

enum { OP_SUM, OP_MEAN, OP_MAX, OP_MIN };
static const char *const OP_NAMES[] = {"sum", "mean", "max", "min", NULL};
static MPI_Op mpi_op(int op) { return op == OP_MAX ? MPI_MAX : op == OP_MIN ? MPI_MIN : MPI_SUM; }

static int check_op(lua_State *L, int idx, const char *fn, lg_tensor *t) {
  int op = luaL_checkoption(L, idx, "sum", OP_NAMES);
  if (op == OP_MEAN && !(t->dtype == LG_F32 || t->dtype == LG_F64))
    luaL_error(L, MOD "%s: op 'mean' needs a float tensor, got %s", fn, api->dtype_name(t->dtype));
  return op;
}

/* Every rank passes the same (kind, dtype, shape)? One 2 x 12 int64 MAX all-reduce:
 * the max of v and of -v agree on every entry iff all ranks sent the same v. */
static void check_agree(lua_State *L, const char *fn, const lg_tensor *t, int64_t extra) {
  enum { N = 3 + LG_MAX_DIMS };
  int64_t buf[2 * N] = {0};
  buf[0] = t->dtype;
  buf[1] = t->ndim;
  buf[2] = extra;
  for (int i = 0; i < t->ndim; i++) buf[3 + i] = t->shape[i];
  for (int i = 0; i < N; i++) buf[N + i] = -buf[i];
  MPI_Request req;
  CHECK_MPI(L, fn, MPI_Iallreduce(MPI_IN_PLACE, buf, 2 * N, MPI_INT64_T, MPI_MAX, comm, &req));
  CHECK_MPI(L, fn, timed_wait(&req, 1, fn));
  for (int i = 0; i < N; i++) {
    if (buf[i] != -buf[N + i]) {
      char s[128];
      api->shape_str(t, s, sizeof s);
      luaL_error(L, MOD "%s: the ranks passed different tensors or arguments (rank %d has %s %s); every rank "
                 "must pass the same dtype and shape%s", fn, world_rank, api->dtype_name(t->dtype), s,
                 extra ? " (and the same op or root)" : "");
    }
  }
}

static lg_tensor *check_tensor(lua_State *L, int idx, const char *fn, bool need_contiguous) {
  lg_tensor *t = api->test(L, idx);
  if (!t) {
    luaL_error(L, MOD "%s: bad argument #%d (Tensor expected, got %s)", fn, idx, luaL_typename(L, idx));
  }
  if (need_contiguous && !api->is_contiguous(t))
    luaL_error(L, MOD "%s: the tensor must be contiguous (it is reduced in place: use t:contiguous() and copy back)",
               fn);
  return t;
}

/* ---- handles ------------------------------------------------------------------- */

#define HANDLE "lunagrad.distributed.Handle"
enum { K_INPLACE, K_OUT, K_NONE };

typedef struct {
  MPI_Request req;
  int pending;      /* request not yet completed */
  int kind;         /* what :wait() returns: the input (uservalue 1), the new output, nothing */
  int mean;         /* divide by world size when done */
  lg_tensor *keep;  /* input kept alive while MPI reads or writes it */
  lg_tensor *out;   /* the result for K_OUT (owned until pushed) */
  lg_tensor *tmp;   /* a contiguous copy of the input, if one was made */
  char what[48];
} handle;

static void divide(lg_tensor *t, int n) {
  int64_t k = api->numel(t);
  if (t->dtype == LG_F32) {
    float *p = api->data_ptr(t), d = (float)n;
    for (int64_t i = 0; i < k; i++) p[i] /= d;
  } else if (t->dtype == LG_F64) {
    double *p = api->data_ptr(t), d = (double)n;
    for (int64_t i = 0; i < k; i++) p[i] /= d;
  }
}

static int handle_finish(lua_State *L, handle *h) {
  if (!h->pending) return 0;
  int rc = timed_wait(&h->req, 1, h->what);
  h->pending = 0;
  if (h->mean) divide(h->kind == K_OUT ? h->out : h->keep, world_size);
  api->release(h->tmp);
  h->tmp = NULL;
  if (rc != MPI_SUCCESS && L) mpi_fail(L, h->what, rc);
  return rc;
}

static int h_wait(lua_State *L) {
  handle *h = luaL_checkudata(L, 1, HANDLE);
  handle_finish(L, h);
  if (h->kind == K_INPLACE) {
    lua_getiuservalue(L, 1, 1);
    return 1;
  }
  if (h->kind == K_OUT) {
    if (h->out) {
      lg_tensor *o = h->out;
      h->out = NULL;
      api->push(L, o, h->what);
      lua_pushvalue(L, -1);
      lua_setiuservalue(L, 1, 1);
      return 1;
    }
    lua_getiuservalue(L, 1, 1);
    return 1;
  }
  return 0;
}

static int h_test(lua_State *L) {
  handle *h = luaL_checkudata(L, 1, HANDLE);
  int done = 1;
  if (h->pending) {
    MPI_Test(&h->req, &done, MPI_STATUS_IGNORE);
    if (done) {
      h->pending = 0;
      if (h->mean) divide(h->kind == K_OUT ? h->out : h->keep, world_size);
    }
  }
  lua_pushboolean(L, done);
  return 1;
}

static int h_gc(lua_State *L) {
  handle *h = luaL_checkudata(L, 1, HANDLE);
  if (h->pending && !finalized) handle_finish(NULL, h); /* MPI may still write into the tensors */
  api->release(h->keep);
  api->release(h->out);
  api->release(h->tmp);
  h->keep = h->out = h->tmp = NULL;
  return 0;
}

static handle *new_handle(lua_State *L, int input_idx, lg_tensor *input, int kind, const char *fn) {
  handle *h = lua_newuserdatauv(L, sizeof *h, 1);
  memset(h, 0, sizeof *h);
  h->kind = kind;
  snprintf(h->what, sizeof h->what, "%s", fn);
  luaL_setmetatable(L, HANDLE);
  if (input) {
    api->retain(input);
    h->keep = input;
  }
  if (kind == K_INPLACE) {
    lua_pushvalue(L, input_idx);
    lua_setiuservalue(L, -2, 1);
  }
  return h;
}

/* Input data to send: the tensor itself when contiguous, else a contiguous copy. */
static void *send_data(lua_State *L, handle *h, lg_tensor *t, const char *fn) {
  if (api->is_contiguous(t)) return api->data_ptr(t);
  h->tmp = api->contiguous(t);
  if (!h->tmp) luaL_error(L, MOD "%s: %s", fn, api->error());
  return api->data_ptr(h->tmp);
}

/* _all_reduce(t, op) -> handle */
static int l_all_reduce(lua_State *L) {
  const char *fn = "all_reduce";
  need_init(L, fn);
  lg_tensor *t = check_tensor(L, 1, fn, true);
  int op = check_op(L, 2, fn, t);
  check_agree(L, fn, t, 1 + op);
  handle *h = new_handle(L, 1, t, K_INPLACE, fn);
  h->mean = op == OP_MEAN;
  CHECK_MPI(L, fn, MPI_Iallreduce(MPI_IN_PLACE, api->data_ptr(t), (int)api->numel(t), mpi_type(t->dtype),
                                  mpi_op(op), comm, &h->req));
  h->pending = 1;
  return 1;
}

/* _broadcast(t, root) -> handle (root 0-based, checked by the caller) */
static int l_broadcast(lua_State *L) {
  const char *fn = "broadcast";
  need_init(L, fn);
  lg_tensor *t = check_tensor(L, 1, fn, true);
  lua_Integer root = luaL_checkinteger(L, 2);
  if (root < 0 || root >= world_size)
    return luaL_error(L, MOD "broadcast: root %d is outside the world (ranks 0..%d)", (int)root, world_size - 1);
  check_agree(L, fn, t, 1 + root);
  handle *h = new_handle(L, 1, t, K_INPLACE, fn);
  CHECK_MPI(L, fn, MPI_Ibcast(api->data_ptr(t), (int)api->numel(t), mpi_type(t->dtype), (int)root, comm, &h->req));
  h->pending = 1;
  return 1;
}

/* _all_gather(t) -> handle; the result has shape {world_size, t's shape...} */
static int l_all_gather(lua_State *L) {
  const char *fn = "all_gather";
  need_init(L, fn);
  lg_tensor *t = check_tensor(L, 1, fn, false);
  if (t->ndim >= LG_MAX_DIMS) return luaL_error(L, MOD "all_gather: at most %d dims", LG_MAX_DIMS - 1);
  check_agree(L, fn, t, 1);
  int64_t shape[LG_MAX_DIMS];
  shape[0] = world_size;
  for (int i = 0; i < t->ndim; i++) shape[i + 1] = t->shape[i];
  handle *h = new_handle(L, 1, t, K_OUT, fn);
  h->out = api->empty(t->ndim + 1, shape, t->dtype);
  if (!h->out) return luaL_error(L, MOD "all_gather: %s", api->error());
  void *src = send_data(L, h, t, fn);
  int n = (int)api->numel(t);
  CHECK_MPI(L, fn, MPI_Iallgather(src, n, mpi_type(t->dtype), api->data_ptr(h->out), n, mpi_type(t->dtype), comm,
                                  &h->req));
  h->pending = 1;
  return 1;
}

/* _reduce_scatter(t, op) -> handle; t's dim 1 is world_size * k, the result this
 * rank's k rows of the reduction */
static int l_reduce_scatter(lua_State *L) {
  const char *fn = "reduce_scatter";
  need_init(L, fn);
  lg_tensor *t = check_tensor(L, 1, fn, false);
  int op = check_op(L, 2, fn, t);
  if (t->ndim < 1 || t->shape[0] % world_size != 0)
    return luaL_error(L, MOD "reduce_scatter: dim 1 of the tensor (%d) must be a multiple of the world size %d",
                      t->ndim ? (int)t->shape[0] : 0, world_size);
  check_agree(L, fn, t, 1 + op);
  int64_t shape[LG_MAX_DIMS];
  memcpy(shape, t->shape, sizeof shape);
  shape[0] /= world_size;
  handle *h = new_handle(L, 1, t, K_OUT, fn);
  h->mean = op == OP_MEAN;
  h->out = api->empty(t->ndim, shape, t->dtype);
  if (!h->out) return luaL_error(L, MOD "reduce_scatter: %s", api->error());
  void *src = send_data(L, h, t, fn);
  CHECK_MPI(L, fn, MPI_Ireduce_scatter_block(src, api->data_ptr(h->out), (int)api->numel(h->out),
                                             mpi_type(t->dtype), mpi_op(op), comm, &h->req));
  h->pending = 1;
  return 1;
}

static int l_barrier(lua_State *L) {
  need_init(L, "barrier");
  handle *h = new_handle(L, 0, NULL, K_NONE, "barrier");
  CHECK_MPI(L, "barrier", MPI_Ibarrier(comm, &h->req));
  h->pending = 1;
  return 1;
}

/* ---- DDP reducer ------------------------------------------------------------------ */

#define REDUCER "lunagrad.distributed.Reducer"

typedef struct {
  lg_dtype dtype;
  int first, count; /* params [first, first + count) of the reducer's order */
  int64_t numel;
  void *buf;        /* the flat gradients; deterministic mode: world_size copies */
  MPI_Request req;
  int pending;      /* params whose gradient is not final yet */
  int launched, done, early; /* early: launched from the hook, during backward */
} bucket;

typedef struct reducer {
  int n;
  lg_tensor **params; /* in bucket order (the model's reversed), retained */
  int64_t *offset;    /* element offset of each param in its bucket */
  int *bucket_of, *calls, *expected;
  int nb;
  bucket *b;
  MPI_Comm comm;
  int deterministic, overlap;
  int learned; /* expected[] known (after the first synchronised step) */
  int active;  /* a backward since the last sync */
  int enabled; /* false inside no_sync */
  int next;    /* next bucket to launch (always in order: every rank starts the same sequence) */
  int dirty;   /* a gradient arrived after its bucket was launched */
  int closed, freed, registered;
  int64_t steps, early_buckets, total_buckets, hook_calls;
  double wait_seconds;
} reducer;

/* leaf -> (reducer, index): open addressing over every live reducer's params */
typedef struct {
  lg_tensor *leaf;
  reducer *r;
  int i;
} slot;
static slot *map;
static size_t map_cap, map_used;
static int live_reducers;

static size_t hash_ptr(const void *p) {
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return (size_t)x;
}

static void map_put(slot *m, size_t cap, lg_tensor *leaf, reducer *r, int i) {
  size_t k = hash_ptr(leaf) & (cap - 1);
  while (m[k].leaf) k = (k + 1) & (cap - 1);
  m[k].leaf = leaf;
  m[k].r = r;
  m[k].i = i;
}

static slot *map_get(lg_tensor *leaf) {
  if (!map_cap) return NULL;
  size_t k = hash_ptr(leaf) & (map_cap - 1);
  while (map[k].leaf) {
    if (map[k].leaf == leaf) return &map[k];
    k = (k + 1) & (map_cap - 1);
  }
  return NULL;
}

/* Rebuilds the map with r's params added (add) or removed. */
static int map_rebuild(reducer *r, int add) {
  size_t want = map_used + (add ? (size_t)r->n : 0), cap = 16;
  while (cap < 2 * want + 2) cap <<= 1;
  slot *m = calloc(cap, sizeof *m);
  if (!m) return -1;
  size_t used = 0;
  for (size_t k = 0; k < map_cap; k++)
    if (map[k].leaf && map[k].r != r) {
      map_put(m, cap, map[k].leaf, map[k].r, map[k].i);
      used++;
    }
  if (add)
    for (int i = 0; i < r->n; i++) {
      map_put(m, cap, r->params[i], r, i);
      used++;
    }
  free(map);
  map = m;
  map_cap = cap;
  map_used = used;
  return 0;
}

static char *slot_base(reducer *r, bucket *b, int rank) {
  return (char *)b->buf + (size_t)(r->deterministic ? rank : 0) * (size_t)b->numel * api->dtype_size(b->dtype);
}

/* Copies param i's gradient (zeros without one) into its place in the bucket. */
static void copy_in(reducer *r, int i) {
  lg_tensor *p = r->params[i];
  bucket *b = &r->b[r->bucket_of[i]];
  size_t es = api->dtype_size(b->dtype);
  char *dst = slot_base(r, b, world_rank) + (size_t)r->offset[i] * es;
  size_t nbytes = (size_t)api->numel(p) * es;
  lg_tensor *g = p->grad;
  if (!g || g->dtype != b->dtype || api->numel(g) != api->numel(p)) {
    memset(dst, 0, nbytes);
    if (g) r->dirty = 2; /* a .grad the user replaced with one of another dtype or size */
    return;
  }
  if (api->is_contiguous(g)) {
    memcpy(dst, api->data_ptr(g), nbytes);
  } else {
    lg_tensor *c = api->contiguous(g);
    if (c) memcpy(dst, api->data_ptr(c), nbytes);
    else memset(dst, 0, nbytes);
    api->release(c);
  }
}

static int launch(reducer *r, int k, int early) {
  bucket *b = &r->b[k];
  for (int i = b->first; i < b->first + b->count; i++) copy_in(r, i);
  MPI_Datatype ty = mpi_type(b->dtype);
  int rc = r->deterministic
               ? MPI_Iallgather(MPI_IN_PLACE, 0, ty, b->buf, (int)b->numel, ty, r->comm, &b->req)
               : MPI_Iallreduce(MPI_IN_PLACE, b->buf, (int)b->numel, ty, MPI_SUM, r->comm, &b->req);
  b->launched = 1;
  b->early = early;
  if (rc != MPI_SUCCESS) {
    b->req = MPI_REQUEST_NULL;
    r->dirty = 3;
  }
  return rc;
}

/* Drives the launched reductions (OpenMPI progresses them only inside MPI calls). */
static void progress(reducer *r) {
  for (int k = 0; k < r->next; k++) {
    bucket *b = &r->b[k];
    if (b->launched && !b->done) {
      int flag = 0;
      MPI_Test(&b->req, &flag, MPI_STATUS_IGNORE);
      if (flag) b->done = 1;
    }
  }
}

static void begin_step(reducer *r) {
  r->active = 1;
  r->next = 0;
  r->dirty = 0;
  memset(r->calls, 0, (size_t)r->n * sizeof *r->calls);
  for (int k = 0; k < r->nb; k++) {
    bucket *b = &r->b[k];
    b->launched = b->done = b->early = 0;
    b->req = MPI_REQUEST_NULL;
    b->pending = 0;
    if (r->learned)
      for (int i = b->first; i < b->first + b->count; i++) b->pending += r->expected[i] > 0;
  }
}

/* The core's grad-ready hook: leaf's .grad just received a gradient. */
static void grad_ready(lg_tensor *leaf, void *ud) {
  (void)ud;
  slot *s = map_get(leaf);
  if (!s) return;
  reducer *r = s->r;
  if (!r->enabled || r->closed || finalized) return;
  if (!r->active) begin_step(r);
  int i = s->i;
  r->calls[i]++;
  r->hook_calls++;
  if (!r->learned || !r->overlap) return;
  bucket *b = &r->b[r->bucket_of[i]];
  if (b->launched) {
    r->dirty = 1; /* more gradient after the bucket left: see sync's error */
  } else if (r->calls[i] == r->expected[i]) {
    b->pending--;
  }
  while (r->next < r->nb && r->b[r->next].pending <= 0) {
    launch(r, r->next, 1);
    r->next++;
  }
  progress(r);
}

static void sum_ranks(reducer *r, bucket *b) {
  int64_t n = b->numel;
  if (r->deterministic) { /* slot 0 += slot 1, += slot 2, ...: rank order, as sequential accumulation */
    for (int q = 1; q < world_size; q++) {
      if (b->dtype == LG_F32) {
        float *acc = (float *)b->buf, *x = (float *)slot_base(r, b, q);
        for (int64_t j = 0; j < n; j++) acc[j] += x[j];
      } else {
        double *acc = (double *)b->buf, *x = (double *)slot_base(r, b, q);
        for (int64_t j = 0; j < n; j++) acc[j] += x[j];
      }
    }
  }
  if (b->dtype == LG_F32) {
    float *acc = (float *)b->buf, d = (float)world_size;
    for (int64_t j = 0; j < n; j++) acc[j] /= d;
  } else {
    double *acc = (double *)b->buf, d = (double)world_size;
    for (int64_t j = 0; j < n; j++) acc[j] /= d;
  }
}

static int copy_out(reducer *r, bucket *b) {
  size_t es = api->dtype_size(b->dtype);
  for (int i = b->first; i < b->first + b->count; i++) {
    lg_tensor *p = r->params[i];
    lg_tensor *g = p->grad;
    if (!g || !api->is_contiguous(g) || g->dtype != b->dtype || api->numel(g) != api->numel(p) ||
        g->storage->refcount > 1) {
      lg_tensor *z = api->zeros(p->ndim, p->shape, b->dtype);
      if (!z) return -1;
      api->release(p->grad);
      p->grad = z;
      g = z;
    }
    memcpy(api->data_ptr(g), (char *)b->buf + (size_t)r->offset[i] * es, (size_t)api->numel(p) * es);
  }
  return 0;
}

static reducer *check_reducer(lua_State *L) {
  reducer *r = luaL_checkudata(L, 1, REDUCER);
  if (r->closed) luaL_error(L, MOD "DistributedDataParallel: the reducer was closed");
  return r;
}

/* r:sync() -> true when buckets were started during backward (hook calls arrived).
 * Always reduces every bucket: sync means "average the .grad of every parameter over
 * the ranks now" (a second sync without a backward in between averages identical
 * values, which changes nothing), so it is right even if no hook call arrived. */
static int r_sync(lua_State *L) {
  reducer *r = check_reducer(L);
  need_init(L, "DistributedDataParallel.sync");
  int hooked = r->active;
  if (!r->active) begin_step(r);
  if (!r->learned && hooked) {
    memcpy(r->expected, r->calls, (size_t)r->n * sizeof *r->calls);
    r->learned = 1;
  }
  while (r->next < r->nb) {
    launch(r, r->next, 0);
    r->next++;
  }
  MPI_Request *reqs = malloc((size_t)r->nb * sizeof *reqs);
  if (!reqs) return luaL_error(L, MOD "DistributedDataParallel.sync: out of memory");
  for (int k = 0; k < r->nb; k++) reqs[k] = r->b[k].done ? MPI_REQUEST_NULL : r->b[k].req;
  double t0 = now();
  int rc = timed_wait(reqs, r->nb, "DistributedDataParallel gradient all-reduce");
  r->wait_seconds += now() - t0;
  free(reqs);
  r->active = 0;
  r->steps++;
  int err = 0;
  for (int k = 0; k < r->nb; k++) {
    bucket *b = &r->b[k];
    b->done = 1;
    b->req = MPI_REQUEST_NULL;
    r->total_buckets++;
    r->early_buckets += b->early;
    sum_ranks(r, b);
    if (copy_out(r, b)) err = 1;
  }
  if (rc != MPI_SUCCESS) return mpi_fail(L, "DistributedDataParallel.sync", rc);
  if (err) return luaL_error(L, MOD "DistributedDataParallel.sync: %s", api->error());
  if (r->dirty == 1)
    return luaL_error(L, MOD "DistributedDataParallel.sync: a parameter received more gradient in this backward than "
                      "in the first one, after its bucket was reduced (the graph changes from step to step, or "
                      "backward ran twice without no_sync); use {overlap = false}");
  if (r->dirty == 2)
    return luaL_error(L, MOD "DistributedDataParallel.sync: a parameter's .grad has another dtype or size than "
                      "the parameter");
  if (r->dirty == 3) return luaL_error(L, MOD "DistributedDataParallel.sync: MPI failed to start a reduction");
  lua_pushboolean(L, hooked);
  return 1;
}

static int r_set_enabled(lua_State *L) {
  reducer *r = check_reducer(L);
  r->enabled = lua_toboolean(L, 2);
  return 0;
}

static int r_pending(lua_State *L) { /* a backward ran and sync() did not follow yet */
  reducer *r = check_reducer(L);
  lua_pushboolean(L, r->active);
  return 1;
}

static int r_stats(lua_State *L) {
  reducer *r = check_reducer(L);
  lua_createtable(L, 0, 8);
  int64_t bytes = 0;
  lua_createtable(L, r->nb, 0);
  for (int k = 0; k < r->nb; k++) {
    bucket *b = &r->b[k];
    bytes += b->numel * (int64_t)api->dtype_size(b->dtype);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, b->count);
    lua_setfield(L, -2, "params");
    lua_pushinteger(L, b->numel);
    lua_setfield(L, -2, "numel");
    lua_pushstring(L, api->dtype_name(b->dtype));
    lua_setfield(L, -2, "dtype");
    lua_rawseti(L, -2, k + 1);
  }
  lua_setfield(L, -2, "buckets");
  lua_pushinteger(L, bytes);
  lua_setfield(L, -2, "bytes");
  lua_pushinteger(L, r->steps);
  lua_setfield(L, -2, "steps");
  lua_pushinteger(L, r->total_buckets);
  lua_setfield(L, -2, "reductions");
  lua_pushinteger(L, r->early_buckets);
  lua_setfield(L, -2, "overlapped");
  lua_pushnumber(L, r->wait_seconds);
  lua_setfield(L, -2, "wait_seconds");
  lua_pushboolean(L, r->learned);
  lua_setfield(L, -2, "learned");
  lua_pushinteger(L, r->hook_calls);
  lua_setfield(L, -2, "hook_calls");
  return 1;
}

static void reducer_free(reducer *r) {
  if (r->freed) return;
  r->freed = r->closed = 1;
  int fin = finalized;
  if (!fin) MPI_Finalized(&fin);
  if (r->b) {
    for (int k = 0; k < r->nb; k++) {
      if (!fin && r->b[k].launched && !r->b[k].done) timed_wait(&r->b[k].req, 1, "DistributedDataParallel close");
      free(r->b[k].buf);
    }
  }
  if (r->registered) map_rebuild(r, 0);
  if (r->params)
    for (int i = 0; i < r->n; i++) api->release(r->params[i]);
  if (!fin && r->comm != MPI_COMM_NULL) MPI_Comm_free(&r->comm);
  free(r->params);
  free(r->offset);
  free(r->bucket_of);
  free(r->calls);
  free(r->expected);
  free(r->b);
  r->params = NULL;
  r->b = NULL;
  if (r->registered && --live_reducers == 0) api->set_grad_ready_hook(NULL, NULL);
}

static int r_gc(lua_State *L) {
  reducer *r = luaL_checkudata(L, 1, REDUCER);
  reducer_free(r);
  return 0;
}

static int64_t fnv(int64_t h, int64_t v) {
  return (int64_t)(((uint64_t)h ^ (uint64_t)v) * 0x100000001b3ULL);
}

/* _reducer(params, bucket_bytes, deterministic, overlap): params in the model's
 * order (leaves requiring grad, float, checked by the Lua side). */
static int l_reducer(lua_State *L) {
  const char *fn = "DistributedDataParallel";
  need_init(L, fn);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer bucket_bytes = luaL_checkinteger(L, 2);
  int n = (int)luaL_len(L, 1);
  if (n < 1) return luaL_error(L, MOD "%s: the model has no parameters that require grad", fn);
  reducer *r = lua_newuserdatauv(L, sizeof *r, 0);
  memset(r, 0, sizeof *r);
  r->comm = MPI_COMM_NULL;
  luaL_setmetatable(L, REDUCER);
  r->deterministic = lua_toboolean(L, 3);
  r->overlap = lua_toboolean(L, 4);
  r->enabled = 1;
  r->n = n;
  r->params = calloc((size_t)n, sizeof *r->params);
  r->offset = calloc((size_t)n, sizeof *r->offset);
  r->bucket_of = calloc((size_t)n, sizeof *r->bucket_of);
  r->calls = calloc((size_t)n, sizeof *r->calls);
  r->expected = calloc((size_t)n, sizeof *r->expected);
  r->b = calloc((size_t)n, sizeof *r->b);
  if (!r->params || !r->offset || !r->bucket_of || !r->calls || !r->expected || !r->b)
    return luaL_error(L, MOD "%s: out of memory", fn);
  for (int i = 0; i < n; i++) { /* reversed: backward produces the last layers' gradients first */
    lua_rawgeti(L, 1, n - i);
    lg_tensor *p = api->test(L, -1);
    if (!p || !(p->dtype == LG_F32 || p->dtype == LG_F64))
      return luaL_error(L, MOD "%s: parameter %d is not a float tensor", fn, n - i);
    lua_pop(L, 1);
    api->retain(p);
    r->params[i] = p;
  }
  int64_t sig = fnv(0xcbf29ce484222325LL, n);
  sig = fnv(sig, bucket_bytes);
  sig = fnv(sig, r->deterministic * 2 + r->overlap);
  int nb = 0;
  for (int i = 0; i < n; i++) {
    lg_tensor *p = r->params[i];
    int64_t bytes = api->numel(p) * (int64_t)api->dtype_size(p->dtype);
    bucket *b = nb ? &r->b[nb - 1] : NULL;
    if (!b || b->dtype != p->dtype ||
        (b->numel * (int64_t)api->dtype_size(b->dtype) + bytes > bucket_bytes && b->count > 0)) {
      b = &r->b[nb++];
      b->dtype = p->dtype;
      b->first = i;
    }
    r->bucket_of[i] = nb - 1;
    r->offset[i] = b->numel;
    b->numel += api->numel(p);
    b->count++;
    sig = fnv(fnv(sig, p->dtype), api->numel(p));
  }
  r->nb = nb;
  for (int k = 0; k < nb; k++) {
    bucket *b = &r->b[k];
    if (b->numel > INT32_MAX) return luaL_error(L, MOD "%s: a parameter has more than 2^31 elements", fn);
    size_t copies = r->deterministic ? (size_t)world_size : 1;
    b->buf = malloc(copies * (size_t)b->numel * api->dtype_size(b->dtype));
    if (!b->buf) return luaL_error(L, MOD "%s: out of memory for the gradient buckets", fn);
    b->req = MPI_REQUEST_NULL;
  }
  /* every rank must wrap the same architecture with the same options */
  int64_t buf[2] = {sig, -sig};
  MPI_Request req;
  CHECK_MPI(L, fn, MPI_Iallreduce(MPI_IN_PLACE, buf, 2, MPI_INT64_T, MPI_MAX, comm, &req));
  CHECK_MPI(L, fn, timed_wait(&req, 1, fn));
  if (buf[0] != -buf[1])
    return luaL_error(L, MOD "%s: the ranks wrap different models (parameter count, shapes or dtypes) or pass "
                      "different options", fn);
  CHECK_MPI(L, fn, MPI_Comm_dup(comm, &r->comm));
  if (map_rebuild(r, 1)) return luaL_error(L, MOD "%s: out of memory", fn);
  r->registered = 1;
  if (live_reducers++ == 0) api->set_grad_ready_hook(grad_ready, NULL);
  return 1;
}

/* ---- module -------------------------------------------------------------------------- */

int luaopen_lunagrad_distributed_mpi(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushstring(L, "lunagrad.core");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "_c_api");
  const lg_c_api *a = lua_touserdata(L, -1);
  if (!a) return luaL_error(L, "lunagrad.distributed_mpi: lunagrad.core has no _c_api (an older core?)");
  if (a->version < LG_C_API_VERSION || a->size < sizeof(lg_c_api))
    return luaL_error(L, "lunagrad.distributed_mpi: lunagrad.core's C API is version %d, this module needs %d",
                      a->version, LG_C_API_VERSION);
  api = a;
  lua_pop(L, 2);

  static const luaL_Reg handle_methods[] = {{"wait", h_wait}, {"test", h_test}, {NULL, NULL}};
  luaL_newmetatable(L, HANDLE);
  luaL_newlib(L, handle_methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, h_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  static const luaL_Reg reducer_methods[] = {
      {"sync", r_sync}, {"set_enabled", r_set_enabled}, {"pending", r_pending}, {"stats", r_stats},
      {"close", r_gc}, {NULL, NULL}};
  luaL_newmetatable(L, REDUCER);
  luaL_newlib(L, reducer_methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, r_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  static const luaL_Reg fns[] = {
      {"init", l_init},
      {"finalize", l_finalize},
      {"abort", l_abort},
      {"comm_seconds", l_comm_seconds},
      {"ncpus", l_ncpus},
      {"all_reduce", l_all_reduce},
      {"broadcast", l_broadcast},
      {"all_gather", l_all_gather},
      {"reduce_scatter", l_reduce_scatter},
      {"barrier", l_barrier},
      {"reducer", l_reducer},
      {NULL, NULL},
  };
  luaL_newlib(L, fns);
  lua_pushstring(L, MPI_VERSION == 3 ? "MPI 3" : "MPI");
  lua_setfield(L, -2, "mpi_version");
  return 1;
}
