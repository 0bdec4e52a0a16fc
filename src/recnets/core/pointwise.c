/* Fused element-wise steps of the BPTT kernels: one pass over a step's gates instead of 5-15 torch kernels.

   Each function does the element-wise part of ONE time step of a recurrence, for all B rows; the recurrent
   matrix product stays in torch (oneDNN / BLAS), called by the Python loop between two of these. Compiled
   once per machine by recnets/core/pointwise.py (no torch headers: plain C on raw pointers, float and double).
   Pointers address row 0 of a step; every row stride is given in elements; the last dimension is contiguous.
   A mask pointer is NULL when every row is real, else mask[b] is 1.0 for a real step and 0.0 past the row's
   length (the state is then carried: h = h_prev + mask (h_new - h_prev), as torch.lerp).

   float: exp by range reduction and a degree-7 polynomial (|error| ~1 ulp, vectorised by the compiler);
   double: the C library's exp (exact to the last bit or so; double is the tests' precision).

   Book: 10.2.2, eqs. 10.17-10.28 (BPTT); 10.10 (the gated cells); Ba, Kiros & Hinton 2016 (layer norm). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

static inline float exp_float(float x) {
    x = x < -87.0f ? -87.0f : x; /* comparisons, not fminf: a NaN goes through */
    x = x > 88.0f ? 88.0f : x;
    float k = __builtin_rintf(x * 1.44269504088896341f); /* k = round(x / ln 2), exact by a rounding instruction */
    float r = x - k * 0.693145751953125f - k * 1.428606765330187045e-06f; /* ln 2 in two parts */
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 +
                                                                   r * (1.0f / 720 + r * (1.0f / 5040)))))));
    union { float f; int32_t i; } scale;
    scale.i = ((int32_t)k + 127) << 23; /* 2^k */
    return p * scale.f;
}

static inline double exp_double(double x) { return exp(x); }

/* Rows are independent: with OpenMP (torch's own runtime, already loaded, so its thread count and pool) the
   rows of a large enough step are shared among the threads; a row's arithmetic is the same either way. */
#define PRAGMA(text) _Pragma(#text)
#define PARALLEL_ROWS PRAGMA(omp parallel for schedule(static) if (B * H >= MIN_PARALLEL))
#define MIN_PARALLEL 8192
/* The row loops vectorise: with OpenMP by these pragmas (the outlined parallel region loses restrict), without
   it by restrict (the pragmas are then ignored). */
#define VECTOR PRAGMA(omp simd)
#define VECTOR_SUM(...) PRAGMA(omp simd reduction(+:__VA_ARGS__))

#define DEFINE_STEPS(T, SUFFIX, EXP)                                                                            \
static inline T sigmoid_##SUFFIX(T x) { return (T)1 / ((T)1 + EXP(-x)); }                                       \
static inline T tanh_##SUFFIX(T x) { return (T)2 / ((T)1 + EXP((T)-2 * x)) - (T)1; }                            \
                                                                                                                \
/* torch's GRU, one forward step: px, m = W h(t-1) + b_W (B, 3H) blocks (r, z, n) -> acts (r, z, n), h (B, H)   \
   r = σ(px_r + m_r); z = σ(px_z + m_z); n = tanh(px_n + r m_n); h = n + z (h(t-1) - n) */                      \
void gru_forward_##SUFFIX(int64_t B, int64_t H, const T *restrict px, int64_t s_px, const T *restrict m,        \
                          int64_t s_m, const T *restrict h_prev, int64_t s_h, const T *restrict mask,           \
                          T *restrict acts, int64_t s_acts, T *restrict h_new, int64_t s_new) {                 \
    PARALLEL_ROWS                                                                                               \
    for (int64_t b = 0; b < B; b++) {                                                                           \
        const T *p = px + b * s_px, *mb = m + b * s_m, *hp = h_prev + b * s_h;                                  \
        T *a = acts + b * s_acts, *hn = h_new + b * s_new;                                                      \
        const T keep = mask ? mask[b] : (T)1;                                                                   \
        VECTOR                                                                                                  \
        for (int64_t j = 0; j < H; j++) {                                                                       \
            T r = sigmoid_##SUFFIX(p[j] + mb[j]);                                                               \
            T z = sigmoid_##SUFFIX(p[H + j] + mb[H + j]);                                                       \
            T n = tanh_##SUFFIX(p[2 * H + j] + r * mb[2 * H + j]);                                              \
            T h = n + z * (hp[j] - n);                                                                          \
            a[j] = r; a[H + j] = z; a[2 * H + j] = n;                                                           \
            hn[j] = hp[j] + keep * (h - hp[j]);                                                                 \
        }                                                                                                       \
    }                                                                                                           \
}                                                                                                               \
                                                                                                                \
/* torch's GRU, one backward step. In: acts (r, z, n), m_n = (W h(t-1) + b_W)_n, h(t-1), ∇y(t); grad_h (B, H)   \
   is ∇h(t) from step t+1 and becomes ∇h(t) + ∇y(t). Out: signals (B, 4H) = [r ∇a_n | ∇a_r, ∇a_z, ∇a_n]         \
   (zero where masked) and through = ∇h ⊙ z, to which the caller adds ∇m Wᵀ:                                    \
   ∇a_n = ∇h (1 - z)(1 - n²); ∇a_z = ∇h (h(t-1) - n) z(1 - z); ∇a_r = ∇a_n m_n r(1 - r). */                     \
void gru_backward_##SUFFIX(int64_t B, int64_t H, const T *restrict acts, int64_t s_acts,                        \
                           const T *restrict m_n, int64_t s_m, const T *restrict h_prev, int64_t s_h,           \
                           const T *restrict grad_y, int64_t s_y, const T *restrict mask,                       \
                           T *restrict grad_h, int64_t s_g, T *restrict signals, int64_t s_sig,                 \
                           T *restrict through, int64_t s_through) {                                            \
    PARALLEL_ROWS                                                                                               \
    for (int64_t b = 0; b < B; b++) {                                                                           \
        const T *a = acts + b * s_acts, *mn = m_n + b * s_m, *hp = h_prev + b * s_h, *gy = grad_y + b * s_y;    \
        T *g = grad_h + b * s_g, *sg = signals + b * s_sig, *th = through + b * s_through;                      \
        const T keep = mask ? mask[b] : (T)1;                                                                   \
        VECTOR                                                                                                  \
        for (int64_t j = 0; j < H; j++) {                                                                       \
            T r = a[j], z = a[H + j], n = a[2 * H + j];                                                         \
            T gh = g[j] + gy[j];                                                                                \
            T d_n = ((T)1 - n * n) * (gh - gh * z);                                                             \
            T d_z = (z - z * z) * gh * (hp[j] - n);                                                             \
            T d_r = (r - r * r) * d_n * mn[j];                                                                  \
            d_n *= keep; d_z *= keep; d_r *= keep;                                                              \
            g[j] = gh;                                                                                          \
            sg[j] = d_n * r; sg[H + j] = d_r; sg[2 * H + j] = d_z; sg[3 * H + j] = d_n;                         \
            th[j] = gh * z;                                                                                     \
        }                                                                                                       \
    }                                                                                                           \
}                                                                                                               \
                                                                                                                \
/* The book's LSTM, one forward step (blocks f, g, unit, q of 4H; eqs. 10.40-10.44): a holds px + W h(t-1)      \
   (B, 4H) and is overwritten by the gates f, g = σ(a_f + p_f s(t-1)), σ(a_g + p_g s(t-1)), i = φ(a_unit),      \
   q = σ(a_q + p_o s(t)); s = f s(t-1) + g i; h = tanh(s) q. peepholes (3, H), zeros for none (a NULL test      \
   in the loop would keep it from vectorising); φ = σ when sigmoid_candidate, else tanh, both as                \
   k / (1 + exp(-k x)) - (k - 1) with k = 1 or 2. Out: s and h (carried where masked), tanh(s) of the           \
   unmasked s. */                                                                                               \
void lstm_forward_##SUFFIX(int64_t B, int64_t H, int64_t sigmoid_candidate, T *restrict a, int64_t s_a,         \
                           const T *restrict peepholes, const T *restrict s_prev, int64_t s_sp,                 \
                           const T *restrict h_prev, int64_t s_h, const T *restrict mask, T *restrict s_new,    \
                           int64_t s_s, T *restrict tanh_s, int64_t s_t, T *restrict h_new, int64_t s_new_h) {  \
    PARALLEL_ROWS                                                                                               \
    for (int64_t b = 0; b < B; b++) {                                                                           \
        T *ab = a + b * s_a, *sn = s_new + b * s_s, *ts = tanh_s + b * s_t, *hn = h_new + b * s_new_h;          \
        const T *sp = s_prev + b * s_sp, *hp = h_prev + b * s_h;                                                \
        const T keep = mask ? mask[b] : (T)1, k = sigmoid_candidate ? (T)1 : (T)2;                              \
        VECTOR                                                                                                  \
        for (int64_t j = 0; j < H; j++) {                                                                       \
            T f = sigmoid_##SUFFIX(ab[j] + peepholes[j] * sp[j]);                                               \
            T g = sigmoid_##SUFFIX(ab[H + j] + peepholes[H + j] * sp[j]);                                       \
            T i = k / ((T)1 + EXP(-k * ab[2 * H + j])) - (k - (T)1);                                            \
            T state = f * sp[j] + g * i;                                                                        \
            T q = sigmoid_##SUFFIX(ab[3 * H + j] + peepholes[2 * H + j] * state);                               \
            T t = tanh_##SUFFIX(state);                                                                         \
            ab[j] = f; ab[H + j] = g; ab[2 * H + j] = i; ab[3 * H + j] = q;                                     \
            ts[j] = t;                                                                                          \
            hn[j] = hp[j] + keep * (t * q - hp[j]);                                                             \
            sn[j] = sp[j] + keep * (state - sp[j]);                                                             \
        }                                                                                                       \
    }                                                                                                           \
}                                                                                                               \
                                                                                                                \
/* The book's LSTM, one backward step. grad_h: ∇h(t) from step t+1, becomes ∇h(t) + ∇y(t); grad_s: ∇s(t)        \
   from step t+1, becomes ∇s(t-1) (kept where masked); peepholes (3, H), zeros for none. Out: delta = ∇a        \
   (B, 4H), zero where masked:                                                                                  \
   ∇a_q = ∇h tanh(s) q(1-q); ∇s += ∇h q (1 - tanh²(s)) + p_o ∇a_q; ∇a_f = ∇s s(t-1) f(1-f);                     \
   ∇a_g = ∇s i g(1-g); ∇a_unit = ∇s g φ'; ∇s(t-1) = ∇s f + p_f ∇a_f + p_g ∇a_g. */                              \
void lstm_backward_##SUFFIX(int64_t B, int64_t H, int64_t sigmoid_candidate, const T *restrict acts,            \
                            int64_t s_acts, const T *restrict peepholes, const T *restrict s_prev, int64_t s_sp, \
                            const T *restrict tanh_s, int64_t s_t, const T *restrict grad_y, int64_t s_y,       \
                            const T *restrict mask, T *restrict grad_h, int64_t s_gh, T *restrict grad_s,       \
                            int64_t s_gs, T *restrict delta, int64_t s_d) {                                     \
    PARALLEL_ROWS                                                                                               \
    for (int64_t b = 0; b < B; b++) {                                                                           \
        const T *a = acts + b * s_acts, *sp = s_prev + b * s_sp, *ts = tanh_s + b * s_t, *gy = grad_y + b * s_y; \
        T *gh = grad_h + b * s_gh, *gs = grad_s + b * s_gs, *d = delta + b * s_d;                               \
        const T keep = mask ? mask[b] : (T)1, sigmoid = sigmoid_candidate ? (T)1 : (T)0;                        \
        VECTOR                                                                                                  \
        for (int64_t j = 0; j < H; j++) {                                                                       \
            T f = a[j], g = a[H + j], i = a[2 * H + j], q = a[3 * H + j], t = ts[j];                            \
            T h = gh[j] + gy[j];                                                                                \
            gh[j] = h;                                                                                          \
            T d_q = (q - q * q) * h * t;                                                                        \
            T d_s = ((T)1 - t * t) * q * h + gs[j] + peepholes[2 * H + j] * d_q;                                \
            T d_f = (f - f * f) * d_s * sp[j];                                                                  \
            T d_g = (g - g * g) * d_s * i;                                                                      \
            T d_i = (sigmoid * i + ((T)1 - sigmoid) - i * i) * d_s * g; /* σ': i - i²; tanh': 1 - i² */         \
            T back = d_s * f + peepholes[j] * d_f + peepholes[H + j] * d_g;                                     \
            d[j] = d_f * keep; d[H + j] = d_g * keep; d[2 * H + j] = d_i * keep; d[3 * H + j] = d_q * keep;     \
            gs[j] = gs[j] + keep * (back - gs[j]);                                                              \
        }                                                                                                       \
    }                                                                                                           \
}                                                                                                               \
                                                                                                                \
/* Mean and 1/sqrt(variance + eps) of K values (the variance over K, as layer normalisation). */                \
static inline void moments_##SUFFIX(const T *restrict v, int64_t K, T eps, T *mean, T *inverse) {               \
    double sum = 0, squares = 0;                                                                                \
    VECTOR_SUM(sum) for (int64_t j = 0; j < K; j++) sum += v[j];                                                \
    const T mu = (T)(sum / K);                                                                                  \
    VECTOR_SUM(squares) for (int64_t j = 0; j < K; j++) squares += (double)((v[j] - mu) * (v[j] - mu));         \
    *mean = mu;                                                                                                 \
    *inverse = (T)(1.0 / sqrt(squares / K + eps));                                                              \
}                                                                                                               \
                                                                                                                \
/* The layer-normalised LSTM, one forward step (blocks f, g, i, q of 4H). ux = U x(t) (B, 4H) is normalised     \
   here: n_x = (ux - μ_x)/σ_x; normal holds z = W h(t-1) (B, 4H) and is overwritten by n = (z - μ)/σ;           \
   a = (α_x n_x + b) + α_h n; f, g, q = σ(a); i = tanh(a_i); c = f c(t-1) + g i; l = α_c (c - μ_c)/σ_c + β_c;   \
   h = q tanh(l). Out: mu_x, inv_x, inv_h = 1/σ, acts (f, g, i, q), c (carried where masked), mu_c, inv_c (of   \
   the unmasked c), tanh(l), h (carried where masked). */                                                       \
void layer_norm_lstm_forward_##SUFFIX(int64_t B, int64_t H, T eps, const T *restrict ux, int64_t s_ux,          \
        const T *restrict alpha_x, const T *restrict bias, T *restrict mu_x, T *restrict inv_x,                 \
        T *restrict normal, int64_t s_n, const T *restrict alpha_h, const T *restrict alpha_c,                  \
        const T *restrict beta_c, const T *restrict h_prev, int64_t s_h, const T *restrict c_prev,              \
        int64_t s_cp, const T *restrict mask, T *restrict acts, int64_t s_acts, T *restrict inv_h,              \
        T *restrict c, int64_t s_c, T *restrict mu_c, T *restrict inv_c, T *restrict tanh_l, int64_t s_l,       \
        T *restrict h_new, int64_t s_new) {                                                                     \
    const int64_t G = 4 * H;                                                                                    \
    PARALLEL_ROWS                                                                                               \
    for (int64_t b = 0; b < B; b++) {                                                                           \
        const T *u = ux + b * s_ux, *hp = h_prev + b * s_h, *cp = c_prev + b * s_cp;                            \
        T *nb = normal + b * s_n, *a = acts + b * s_acts, *cb = c + b * s_c, *tl = tanh_l + b * s_l;            \
        T *hn = h_new + b * s_new;                                                                              \
        const T keep = mask ? mask[b] : (T)1;                                                                   \
        T mu, inv, mean_x, inverse_x;                                                                           \
        moments_##SUFFIX(u, G, eps, &mean_x, &inverse_x);                                                       \
        mu_x[b] = mean_x; inv_x[b] = inverse_x;                                                                 \
        moments_##SUFFIX(nb, G, eps, &mu, &inv);                                                                \
        inv_h[b] = inv;                                                                                         \
        VECTOR                                                                                                  \
        for (int64_t j = 0; j < G; j++) {                                                                       \
            T n = (nb[j] - mu) * inv;                                                                           \
            nb[j] = n;                                                                                          \
            a[j] = (alpha_x[j] * ((u[j] - mean_x) * inverse_x) + bias[j]) + alpha_h[j] * n;                     \
        }                                                                                                       \
        VECTOR                                                                                                  \
        for (int64_t j = 0; j < H; j++) {                                                                       \
            T f = sigmoid_##SUFFIX(a[j]), g = sigmoid_##SUFFIX(a[H + j]);                                       \
            T i = tanh_##SUFFIX(a[2 * H + j]), q = sigmoid_##SUFFIX(a[3 * H + j]);                              \
            a[j] = f; a[H + j] = g; a[2 * H + j] = i; a[3 * H + j] = q;                                         \
            cb[j] = f * cp[j] + g * i;                                                                          \
        }                                                                                                       \
        moments_##SUFFIX(cb, H, eps, &mu, &inv);                                                                \
        mu_c[b] = mu; inv_c[b] = inv;                                                                           \
        VECTOR                                                                                                  \
        for (int64_t j = 0; j < H; j++) {                                                                       \
            T t = tanh_##SUFFIX(alpha_c[j] * ((cb[j] - mu) * inv) + beta_c[j]);                                 \
            tl[j] = t;                                                                                          \
            hn[j] = hp[j] + keep * (a[3 * H + j] * t - hp[j]);                                                  \
            cb[j] = cp[j] + keep * (cb[j] - cp[j]);                                                             \
        }                                                                                                       \
    }                                                                                                           \
}                                                                                                               \
                                                                                                                \
/* The layer-normalised LSTM, one backward step. grad_h: ∇h(t) from step t+1, becomes ∇h(t) + ∇y(t);            \
   grad_c: ∇c(t) from step t+1, becomes ∇c(t-1) (kept where masked). Out: grad_z = LN'_h(α_h ∇a) and            \
   grad_ux = LN'_x(α_x ∇a) (B, 4H), from which the caller takes ∇h(t-1) = ∇z W and, after the loop, ∇U and ∇x;  \
   the parameters' gradients summed over steps per row: grad_rows (5, B, 4H) += ∇a ⊙ n_x, ∇a, ∇a ⊙ n, then      \
   ∇l ⊙ m, ∇l (these two in the first H of a row), where LN'(∇n) = (1/σ)(∇n - mean ∇n - n mean(∇n n)) and       \
   m = (c - μ_c)/σ_c; nothing is added where masked. The gates are recomputed from n and ux as in the forward   \
   (not stored: fewer bytes to stream, which bounds this step). scratch (B, 9H): the step's ∇a (4H), ∇l (H)     \
   and gates (4H). */                                                                                           \
void layer_norm_lstm_backward_##SUFFIX(int64_t B, int64_t H, const T *restrict bias,                            \
        const T *restrict normal, int64_t s_n, const T *restrict inv_h, const T *restrict ux, int64_t s_ux,     \
        const T *restrict mu_x, const T *restrict inv_x, const T *restrict c, int64_t s_c,                      \
        const T *restrict c_prev, int64_t s_cp, const T *restrict mu_c, const T *restrict inv_c,                \
        const T *restrict tanh_l, int64_t s_l, const T *restrict grad_y, int64_t s_y,                           \
        const T *restrict alpha_x, const T *restrict alpha_h, const T *restrict alpha_c,                        \
        const T *restrict mask, T *restrict grad_h, int64_t s_gh, T *restrict grad_c, int64_t s_gc,             \
        T *restrict scratch, T *restrict grad_rows, T *restrict grad_z, int64_t s_gz, T *restrict grad_ux,      \
        int64_t s_gu) {                                                                                         \
    const int64_t G = 4 * H;                                                                                    \
    PARALLEL_ROWS                                                                                               \
    for (int64_t b = 0; b < B; b++) {                                                                           \
        const T *nb = normal + b * s_n, *u = ux + b * s_ux, *cb = c + b * s_c;                                  \
        const T *cp = c_prev + b * s_cp, *tl = tanh_l + b * s_l, *gy = grad_y + b * s_y;                        \
        T *gh = grad_h + b * s_gh, *gc = grad_c + b * s_gc, *d = scratch + b * 9 * H, *gl = d + G, *a = gl + H; \
        T *g_alpha_x = grad_rows + b * G, *g_bias = g_alpha_x + B * G, *g_alpha_h = g_bias + B * G;             \
        T *g_alpha_c = g_alpha_h + B * G, *g_beta_c = g_alpha_c + B * G; /* the first H of their rows */        \
        T *gz = grad_z + b * s_gz, *gu = grad_ux + b * s_gu;                                                    \
        const T keep = mask ? mask[b] : (T)1, mu = mu_c[b], inv = inv_c[b];                                     \
        const T mean_x = mu_x[b], inverse_x = inv_x[b];                                                         \
        VECTOR                                                                                                  \
        for (int64_t j = 0; j < G; j++) /* a(t), as in the forward */                                           \
            a[j] = (alpha_x[j] * ((u[j] - mean_x) * inverse_x) + bias[j]) + alpha_h[j] * nb[j];                 \
        VECTOR                                                                                                  \
        for (int64_t j = 0; j < H; j++) {                                                                       \
            a[j] = sigmoid_##SUFFIX(a[j]); a[H + j] = sigmoid_##SUFFIX(a[H + j]);                               \
            a[2 * H + j] = tanh_##SUFFIX(a[2 * H + j]); a[3 * H + j] = sigmoid_##SUFFIX(a[3 * H + j]);          \
        }                                                                                                       \
        double sum = 0, dot = 0; /* mean(∇m), mean(∇m m) over H, ∇m = α_c ∇l */                                 \
        VECTOR_SUM(sum, dot)                                                                                    \
        for (int64_t j = 0; j < H; j++) {                                                                       \
            T g = gh[j] + gy[j], t = tl[j], q = a[3 * H + j];                                                   \
            gh[j] = g;                                                                                          \
            d[3 * H + j] = (q - q * q) * g * t;                                                                 \
            T l = ((T)1 - t * t) * q * g;                                                                       \
            gl[j] = l;                                                                                          \
            T dm = alpha_c[j] * l;                                                                              \
            sum += dm;                                                                                          \
            dot += (double)(dm * ((cb[j] - mu) * inv));                                                         \
        }                                                                                                       \
        const T mean_dm = (T)(sum / H), mean_dot = (T)(dot / H);                                                \
        VECTOR                                                                                                  \
        for (int64_t j = 0; j < H; j++) {                                                                       \
            T f = a[j], g = a[H + j], i = a[2 * H + j];                                                         \
            T m = (cb[j] - mu) * inv;                                                                           \
            T dc = inv * (alpha_c[j] * gl[j] - mean_dm - m * mean_dot) + gc[j];                                 \
            d[j] = (f - f * f) * dc * cp[j];                                                                    \
            d[H + j] = (g - g * g) * dc * i;                                                                    \
            d[2 * H + j] = ((T)1 - i * i) * dc * g;                                                             \
            gc[j] = gc[j] + keep * (dc * f - gc[j]);                                                            \
            T l = gl[j] * keep;                                                                                 \
            g_alpha_c[j] += l * m;                                                                              \
            g_beta_c[j] += l;                                                                                   \
        }                                                                                                       \
        double sum_x = 0, dot_x = 0; /* mean(∇n_x), mean(∇n_x n_x) over 4H, ∇n_x = α_x ∇a */                    \
        sum = 0; dot = 0; /* mean(∇n), mean(∇n n) over 4H, ∇n = α_h ∇a */                                       \
        VECTOR_SUM(sum, dot, sum_x, dot_x)                                                                      \
        for (int64_t j = 0; j < G; j++) {                                                                       \
            T dj = d[j] * keep, nx = (u[j] - mean_x) * inverse_x;                                               \
            d[j] = dj;                                                                                          \
            g_alpha_x[j] += dj * nx;                                                                            \
            g_bias[j] += dj;                                                                                    \
            g_alpha_h[j] += dj * nb[j];                                                                         \
            T dn = alpha_h[j] * dj, dx = alpha_x[j] * dj;                                                       \
            sum += dn;                                                                                          \
            dot += (double)(dn * nb[j]);                                                                        \
            sum_x += dx;                                                                                        \
            dot_x += (double)(dx * nx);                                                                         \
        }                                                                                                       \
        const T mean_dn = (T)(sum / G), mean_dndot = (T)(dot / G), inv_z = inv_h[b];                            \
        const T mean_dx = (T)(sum_x / G), mean_dxdot = (T)(dot_x / G);                                          \
        VECTOR                                                                                                  \
        for (int64_t j = 0; j < G; j++) {                                                                       \
            gz[j] = inv_z * (alpha_h[j] * d[j] - mean_dn - nb[j] * mean_dndot);                                 \
            gu[j] = inverse_x * (alpha_x[j] * d[j] - mean_dx - ((u[j] - mean_x) * inverse_x) * mean_dxdot);     \
        }                                                                                                       \
    }                                                                                                           \
}                                                                                                               \

DEFINE_STEPS(float, float, exp_float)
DEFINE_STEPS(double, double, exp_double)
