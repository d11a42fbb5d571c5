/-!
# Early-abort cost (theorem 3)

A nonce is hashed for `k` of `n` rounds; a classifier then aborts it (cost `k`) or lets it continue (cost `n`).
With continue probability `c = a / b` the expected rounds per nonce are `k + (n - k) · c`, and the savings
against always computing `n` rounds are `1 - expected / n`. Multiplying through by `b` (and by `n · b` for the
savings) keeps every statement over the natural numbers:

* `roundsScaled k n a b = k · b + (n - k) · a`            (expected rounds, times b)
* `savedScaled  k n a b = n · b - roundsScaled k n a b`    (savings, times n · b)

Proved here: `savings_le_bound` (savings ≤ 1 - k/n), `savings_eq_bound_iff` (equality iff c = 0, for k < n;
the paper's "92.19 % = 1 - 5/64" is this bound, reached only by a filter that aborts every nonce), and
`savings_with_keep_rate_le` (with keep rate r = p / q, savings ≤ (1 - r)(1 - k/n)).

Python twin: `asicrc.reservoir.tpf.cost` (`expected_rounds`, `savings`, `savings_with_keep_rate`).
-/

namespace Asicrc.Cost

/-- Expected rounds per nonce times `b`, for continue probability `a / b`: `k · b + (n - k) · a`. -/
def roundsScaled (k n a b : Nat) : Nat := k * b + (n - k) * a

/-- Rounds saved per nonce against always running `n` rounds, times `b`: `n · b - roundsScaled`. The savings
fraction `1 - expected / n` is `savedScaled / (n · b)`. -/
def savedScaled (k n a b : Nat) : Nat := n * b - roundsScaled k n a b

/-- With a keep rate `p / q` (that fraction of nonces always runs all `n` rounds), expected rounds times
`q · b`: `p · (n · b) + (q - p) · roundsScaled`. -/
def roundsWithKeepScaled (k n a b p q : Nat) : Nat := p * (n * b) + (q - p) * roundsScaled k n a b

/-- Savings with a keep rate, times `q · n · b`. -/
def savedWithKeepScaled (k n a b p q : Nat) : Nat := q * (n * b) - roundsWithKeepScaled k n a b p q

/-- Expected rounds never exceed `n` (`roundsScaled ≤ n · b`). -/
theorem rounds_le_full {k n a b : Nat} (hkn : k ≤ n) (hab : a ≤ b) : roundsScaled k n a b ≤ n * b := by
  obtain ⟨m, hm⟩ : ∃ m, n = k + m := ⟨n - k, by omega⟩
  obtain ⟨d, hd⟩ : ∃ d, b = a + d := ⟨b - a, by omega⟩
  subst hm
  subst hd
  have e1 : k + m - k = m := by omega
  show k * (a + d) + (k + m - k) * a ≤ (k + m) * (a + d)
  rw [e1]
  have h1 : 0 ≤ m * d := Nat.zero_le _
  have h2 : 0 ≤ k * d := Nat.zero_le _
  simp only [Nat.add_mul, Nat.mul_add]
  all_goals omega

/-- The rounds saved are `(n - k) · (b - a)` (times `b`): only the nonces that are aborted save anything. -/
theorem savedScaled_eq {k n a b : Nat} (hkn : k ≤ n) (hab : a ≤ b) :
    savedScaled k n a b = (n - k) * (b - a) := by
  obtain ⟨m, hm⟩ : ∃ m, n = k + m := ⟨n - k, by omega⟩
  obtain ⟨d, hd⟩ : ∃ d, b = a + d := ⟨b - a, by omega⟩
  subst hm
  subst hd
  have e1 : k + m - k = m := by omega
  have e2 : a + d - a = d := by omega
  show (k + m) * (a + d) - (k * (a + d) + (k + m - k) * a) = (k + m - k) * (a + d - a)
  rw [e1, e2]
  have h1 : 0 ≤ m * d := Nat.zero_le _
  simp only [Nat.add_mul, Nat.mul_add]
  all_goals omega

/-- Theorem 3a: savings ≤ 1 - k/n. Cross-multiplied by `n · b`: `savedScaled ≤ (n - k) · b`. -/
theorem savings_le_bound {k n a b : Nat} (hkn : k ≤ n) (hab : a ≤ b) :
    savedScaled k n a b ≤ (n - k) * b := by
  rw [savedScaled_eq hkn hab]
  exact Nat.mul_le_mul (Nat.le_refl _) (Nat.sub_le b a)

/-- Theorem 3b: for `k < n` the bound is reached exactly when nothing continues (`c = a / b = 0`). -/
theorem savings_eq_bound_iff {k n a b : Nat} (hkn : k < n) (hab : a ≤ b) :
    savedScaled k n a b = (n - k) * b ↔ a = 0 := by
  rw [savedScaled_eq (Nat.le_of_lt hkn) hab]
  obtain ⟨m, hm⟩ : ∃ m, n = k + m + 1 := ⟨n - k - 1, by omega⟩
  obtain ⟨d, hd⟩ : ∃ d, b = a + d := ⟨b - a, by omega⟩
  subst hm
  subst hd
  have e1 : k + m + 1 - k = m + 1 := by omega
  have e2 : a + d - a = d := by omega
  rw [e1, e2]
  constructor
  · intro h
    have h1 : 0 ≤ m * a := Nat.zero_le _
    have h2 : 0 ≤ m * d := Nat.zero_le _
    simp only [Nat.add_mul, Nat.mul_add, Nat.one_mul] at h
    all_goals omega
  · intro h
    subst h
    first | rfl | simp only [Nat.zero_add] | simp

/-- Theorem 3c: with keep rate `r = p / q`, savings ≤ (1 - r)(1 - k/n). Cross-multiplied by `q · n · b`:
`savedWithKeepScaled ≤ (q - p) · ((n - k) · b)`. -/
theorem savings_with_keep_rate_le {k n a b p q : Nat} (hkn : k ≤ n) (hab : a ≤ b) (hpq : p ≤ q) :
    savedWithKeepScaled k n a b p q ≤ (q - p) * ((n - k) * b) := by
  have hr : roundsScaled k n a b ≤ n * b := rounds_le_full hkn hab
  have hs : n * b - roundsScaled k n a b ≤ (n - k) * b := savings_le_bound hkn hab
  obtain ⟨e, he⟩ : ∃ e, q = p + e := ⟨q - p, by omega⟩
  subst he
  have e1 : p + e - p = e := by omega
  -- abbreviations: X = n · b (full cost), R = scaled expected rounds, B = (n - k) · b (the bound)
  have h1 : e * (n * b - roundsScaled k n a b) ≤ e * ((n - k) * b) := Nat.mul_le_mul (Nat.le_refl e) hs
  have h2 : e * (n * b - roundsScaled k n a b) + e * roundsScaled k n a b = e * (n * b) := by
    rw [← Nat.mul_add, Nat.sub_add_cancel hr]
  have h3 : 0 ≤ e * ((n - k) * b) := Nat.zero_le _
  have h4 : 0 ≤ e * (n * b - roundsScaled k n a b) := Nat.zero_le _
  have h5 : 0 ≤ e * roundsScaled k n a b := Nat.zero_le _
  show (p + e) * (n * b) - (p * (n * b) + (p + e - p) * roundsScaled k n a b) ≤ (p + e - p) * ((n - k) * b)
  rw [e1, Nat.add_mul p e (n * b)]
  all_goals omega

end Asicrc.Cost
