import Asicrc.Sum

/-!
# The gate's energy condition under estimated rates (theorem 5)

The TPF gate opens a filter only if it reduces the net work per valid share. Per nonce, SHA-256d costs a fixed
compression (`fixed` rounds) plus `k` rounds before the filter decides and the other `n - k` rounds for the
kept fraction `a / b` of nonces; a fraction `r / s` of the valid shares survives (recall). Against the
unfiltered miner (`fixed + n` rounds per nonce, every share kept) the filter pays when

    (fixed + k + (n - k) · a/b) / (r/s) < fixed + n,

cross-multiplied over the naturals as `Pays`: `workScaled · s < (fixed + n) · b · r`.

The gate never knows the true keep rate and recall, only held-out estimates. It checks the filter at the
pessimistic corner of their confidence intervals: the upper bound `a' / b'` of the keep rate and the lower bound
`r' / s'` of the recall (Clopper-Pearson, each one-sided 97.5 %, so both hold together with probability at
least 95 %). `pays_of_pays_at_corner` is what makes that check sound: net work rises with the keep rate and falls
with the recall, so if the filter pays at the corner it pays at every (keep rate, recall) inside the intervals,
in particular at the true ones whenever the intervals cover them. It says nothing about the coverage itself (a
statistical property of the intervals, tested in tests/tpf/).

Python twin: `asicrc.reservoir.tpf.energy.pays` and `corner_advantage` (used by the gate).
-/

namespace Asicrc.Cost

/-- Work per nonce times `b` with keep rate `a / b`: `(fixed + k) · b + (n - k) · a`. -/
def workScaled (fixed k n a b : Nat) : Nat := (fixed + k) * b + (n - k) * a

/-- The filter (keep rate `a / b`, recall `r / s`) reduces net work per valid share below the unfiltered
`fixed + n`, cross-multiplied by `b · s`. -/
def Pays (fixed k n a b r s : Nat) : Prop := workScaled fixed k n a b * s < (fixed + n) * b * r

/-- Net work rises with the keep rate: `a / b ≤ a' / b'` (as `a · b' ≤ a' · b`) gives
`work(a / b) ≤ work(a' / b')`, cross-multiplied. -/
theorem work_mono {fixed k n a b a' b' : Nat} (hkeep : a * b' ≤ a' * b) :
    workScaled fixed k n a b * b' ≤ workScaled fixed k n a' b' * b := by
  show ((fixed + k) * b + (n - k) * a) * b' ≤ ((fixed + k) * b' + (n - k) * a') * b
  have e1 : ((fixed + k) * b + (n - k) * a) * b' = (fixed + k) * b * b' + (n - k) * (a * b') := by
    first
      | (rw [Nat.add_mul ((fixed + k) * b) ((n - k) * a) b', Nat.mul_assoc (n - k) a b'])
      | (rw [Nat.add_mul ((fixed + k) * b) ((n - k) * a) b']; ac_rfl)
  have e2 : ((fixed + k) * b' + (n - k) * a') * b = (fixed + k) * b * b' + (n - k) * (a' * b) := by
    first
      | (rw [Nat.add_mul ((fixed + k) * b') ((n - k) * a') b, Nat.mul_assoc (n - k) a' b,
            Nat.mul_right_comm (fixed + k) b' b])
      | (rw [Nat.add_mul ((fixed + k) * b') ((n - k) * a') b]; ac_rfl)
  have h : (n - k) * (a * b') ≤ (n - k) * (a' * b) := Nat.mul_le_mul (Nat.le_refl _) hkeep
  rw [e1, e2]
  first
    | exact Nat.add_le_add_left h _
    | omega

/-- Theorem 5: a filter that pays at the pessimistic corner (keep rate `a' / b'` at least the true `a / b`,
recall `r' / s'` at most the true `r / s`) pays at the true rates. -/
theorem pays_of_pays_at_corner {fixed k n a b a' b' r s r' s' : Nat} (hb : 0 < b) (hs : 0 < s)
    (hkeep : a * b' ≤ a' * b) (hrecall : r' * s ≤ r * s') (hcorner : Pays fixed k n a' b' r' s') :
    Pays fixed k n a b r s := by
  have hc' : workScaled fixed k n a' b' * s' < (fixed + n) * b' * r' := hcorner
  show workScaled fixed k n a b * s < (fixed + n) * b * r
  have hW : workScaled fixed k n a b * b' ≤ workScaled fixed k n a' b' * b := work_mono hkeep
  have hbs : 0 < b * s := by
    first
      | exact Nat.mul_pos hb hs
      | (have h := Nat.mul_le_mul (show 1 ≤ b by omega) (show 1 ≤ s by omega); omega)
  -- W·s·(b'·s') = (W·b')·(s·s') ≤ (W'·b)·(s·s') = (W'·s')·(b·s) < (Z·b'·r')·(b·s)
  --            = (Z·b·b')·(r'·s) ≤ (Z·b·b')·(r·s') = (Z·b·r)·(b'·s'),  then cancel b'·s'
  have h1 : workScaled fixed k n a b * s * (b' * s') ≤ workScaled fixed k n a' b' * b * (s * s') := by
    have e : workScaled fixed k n a b * s * (b' * s') = workScaled fixed k n a b * b' * (s * s') := by
      first
        | ac_rfl
        | (simp only [Nat.mul_comm, Nat.mul_assoc, Nat.mul_left_comm])
    rw [e]
    exact Nat.mul_le_mul hW (Nat.le_refl _)
  have h2 : workScaled fixed k n a' b' * b * (s * s') < (fixed + n) * b' * r' * (b * s) := by
    have e : workScaled fixed k n a' b' * b * (s * s') = workScaled fixed k n a' b' * s' * (b * s) := by
      first
        | ac_rfl
        | (simp only [Nat.mul_comm, Nat.mul_assoc, Nat.mul_left_comm])
    rw [e]
    exact mul_lt_mul_pos_right hc' hbs
  have h3 : (fixed + n) * b' * r' * (b * s) ≤ (fixed + n) * b * r * (b' * s') := by
    have e1 : (fixed + n) * b' * r' * (b * s) = (fixed + n) * b * b' * (r' * s) := by
      first
        | ac_rfl
        | (simp only [Nat.mul_comm, Nat.mul_assoc, Nat.mul_left_comm])
    have e2 : (fixed + n) * b * r * (b' * s') = (fixed + n) * b * b' * (r * s') := by
      first
        | ac_rfl
        | (simp only [Nat.mul_comm, Nat.mul_assoc, Nat.mul_left_comm])
    rw [e1, e2]
    exact Nat.mul_le_mul (Nat.le_refl _) hrecall
  exact lt_of_mul_lt_mul_pos (Nat.lt_of_lt_of_le (Nat.lt_of_le_of_lt h1 h2) h3)

end Asicrc.Cost
