#!/usr/bin/python3
"""Generates the reference values of reference_test.go.

Run with Debian's python3-scipy (scipy 1.10.1, numpy 1.24.2) and, for the
Hodges-Lehmann intervals, R 4.2.2 (r-base-core):

    /usr/bin/python3 testdata/reference.py > /tmp/cases.go.txt

The test itself needs neither; it holds the printed literals.
"""
import subprocess

import numpy as np
import scipy
from scipy import stats

ALT = {"two-sided": "Either", "greater": "Increase", "less": "Decrease"}
RALT = {"two-sided": "two.sided", "greater": "greater", "less": "less"}


def r_wilcox(baseline, canary, exact, conf=0.98):
    """R's wilcox.test(canary, baseline, conf.int=TRUE): estimate and interval."""
    fmt = lambda xs: "c(" + ",".join(repr(float(v)) for v in xs) + ")"
    code = (
        f"r <- suppressWarnings(wilcox.test({fmt(canary)}, {fmt(baseline)}, "
        f"conf.int=TRUE, conf.level={conf}, exact={'TRUE' if exact else 'FALSE'}, correct=TRUE)); "
        "cat(sprintf('%.17g %.17g %.17g %.17g', r$estimate, r$conf.int[1], r$conf.int[2], r$p.value))"
    )
    out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=True).stdout
    return [float(v) for v in out.split()]


def go_floats(xs):
    return "[]float64{" + ", ".join(repr(float(v)) for v in xs) + "}"


def case(name, baseline, canary, method, alt, conf=0.98):
    baseline = [float(v) for v in baseline]
    canary = [float(v) for v in canary]
    res = stats.mannwhitneyu(canary, baseline, alternative=alt, method=method, use_continuity=True)
    d = np.sort(np.subtract.outer(np.array(canary), np.array(baseline)).ravel())
    hl = float(np.median(d))
    exact = method == "exact"
    ties = len(set(baseline + canary)) < len(baseline) + len(canary)
    assert not (exact and ties), name + ": the exact distribution needs samples without ties"
    # R's wilcox.test is exact only below 50 values a sample and without ties.
    r_exact = exact and len(baseline) < 50 and len(canary) < 50
    r_est, r_lo, r_hi, r_p = r_wilcox(baseline, canary, r_exact, conf)
    call = (f"scipy.stats.mannwhitneyu(canary, baseline, alternative={alt!r}, "
            f"method={method!r}, use_continuity=True)")
    print(f"\t{{\n\t\tname: {name!r},".replace("'", '"'))
    print(f'\t\tcall: "{call}",'.replace("'", "'"))
    print(f"\t\tbaseline: {go_floats(baseline)},")
    print(f"\t\tcanary: {go_floats(canary)},")
    print(f"\t\tmethod: {'Exact' if exact else 'Asymptotic'}, direction: {ALT[alt]},")
    print(f"\t\twantU: {float(res.statistic)!r}, wantP: {float(res.pvalue)!r},")
    print(f"\t\twantHL: {hl!r}, // numpy median of the {len(d)} pairwise differences")
    print(f"\t\trExact: {'true' if r_exact else 'false'}, rEstimate: {r_est!r}, rLower: {r_lo!r}, rUpper: {r_hi!r}, rP: {r_p!r},")
    print("\t},")


print(f"// scipy {scipy.__version__}, numpy {np.__version__}")
rs = np.random.RandomState(20240601)
r3 = lambda a: np.round(a, 3)

case("exact small two-sided", [12.1, 13.4, 11.8, 14.2, 12.9, 13.1], [14.8, 13.9, 15.2, 12.5, 16.0],
     "exact", "two-sided")
case("exact 8x8 one-sided greater", r3(rs.normal(100, 10, 8)), r3(rs.normal(112, 10, 8)), "exact", "greater")
case("exact 10x7 one-sided less", r3(rs.normal(50, 5, 10)), r3(rs.normal(45, 5, 7)), "exact", "less")
case("exact unequal 3x20", np.round(rs.normal(10, 2, 3), 4), np.round(rs.normal(11, 2, 20), 4), "exact", "two-sided")
case("exact 25x25 two-sided", r3(rs.normal(200, 30, 25)), r3(rs.normal(225, 30, 25)), "exact", "two-sided")
case("exact 40x60 greater, beyond the default ExactMax", np.round(rs.normal(1, 0.2, 40), 5),
     np.round(rs.normal(1.25, 0.2, 60), 5), "exact", "greater")
case("asymptotic ties 12x15 two-sided", rs.randint(0, 8, 12), rs.randint(2, 10, 15), "asymptotic", "two-sided")
case("asymptotic heavy ties 40x30 less", rs.randint(0, 5, 40), rs.randint(0, 4, 30), "asymptotic", "less")
case("asymptotic small without ties 9x11", r3(rs.normal(0, 1, 9)), r3(rs.normal(0.8, 1, 11)),
     "asymptotic", "two-sided")
case("asymptotic large 60x80 two-sided", r3(rs.lognormal(3, 0.5, 60)), r3(rs.lognormal(3.1, 0.5, 80)),
     "asymptotic", "two-sided")
case("asymptotic large 100x120 greater", np.round(rs.gamma(2, 50, 100), 1), np.round(rs.gamma(2, 60, 120), 1),
     "asymptotic", "greater")
case("asymptotic 30x30 greater with a value repeated in the canary", [float(v) for v in r3(rs.normal(5, 1, 30))],
     [5.5] * 3 + [float(v) for v in r3(rs.normal(5.6, 1, 27))], "asymptotic", "greater")

# Two-proportion pooled z-test by hand from scipy.stats.norm.
print("// two proportions")
for (eb, nb, ec, nc, alt) in [(10, 1000, 25, 1000, "greater"), (50, 10000, 40, 10000, "two-sided"),
                              (0, 500, 3, 500, "greater"), (120, 1000, 80, 1000, "less"),
                              (7, 3000, 9, 1200, "two-sided")]:
    pb, pc = eb / nb, ec / nc
    p = (eb + ec) / (nb + nc)
    z = (pc - pb) / np.sqrt(p * (1 - p) * (1 / nb + 1 / nc))
    pv = {"greater": stats.norm.sf(z), "less": stats.norm.cdf(z),
          "two-sided": 2 * stats.norm.sf(abs(z))}[alt]
    se = np.sqrt(pb * (1 - pb) / nb + pc * (1 - pc) / nc)
    h = stats.norm.ppf(0.99) * se
    print(f"\t{{{eb}, {nb}, {ec}, {nc}, {ALT[alt]}, {float(z)!r}, {float(pv)!r}, {float(pc - pb - h)!r}, {float(pc - pb + h)!r}}},")
