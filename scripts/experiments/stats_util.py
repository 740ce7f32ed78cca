"""Small statistics shared by the experiment reports (standard library only): Student's t
distribution through the regularised incomplete beta function, paired t-tests and intervals.
Checked against scipy.stats.t to 1e-13."""
import math
import statistics


def betainc(a, b, x):
    """Regularised incomplete beta I_x(a, b) (continued fraction, Numerical Recipes' betacf)."""
    if x <= 0 or x >= 1:
        return max(0.0, min(1.0, x))
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1 - x))
    if x > (a + 1) / (a + b + 2):
        return 1 - betainc(b, a, 1 - x)
    c, d, f = 1.0, 1 - (a + b) * x / (a + 1), 0.0
    d = 1 / (d if abs(d) > 1e-300 else 1e-300)
    f = d
    for m in range(1, 300):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)), -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + num * d
            d = 1 / (d if abs(d) > 1e-300 else 1e-300)
            c = 1 + num / c
            c = c if abs(c) > 1e-300 else 1e-300
            f *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return front * f / a


def t_two_sided_p(t, df):
    """P(|T| ≥ |t|) for Student's t with df degrees of freedom."""
    return betainc(df / 2, 0.5, df / (df + t * t))


def t_quantile(q, df):
    """The q-quantile (q > 0.5) of Student's t, by bisection on the two-sided p."""
    lo, hi = 0.0, 1e4
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_two_sided_p(mid, df) > 2 * (1 - q):
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def paired(diffs):
    """(mean, std, two-sided p, 95 % interval half-width) of paired differences; p and the
    interval are None with fewer than two differences."""
    n = len(diffs)
    mean = statistics.mean(diffs)
    if n < 2:
        return mean, 0.0, None, None
    sd = statistics.stdev(diffs)
    if sd == 0:
        return mean, 0.0, (0.0 if mean != 0 else 1.0), 0.0
    se = sd / math.sqrt(n)
    return mean, sd, t_two_sided_p(mean / se, n - 1), t_quantile(0.975, n - 1) * se
