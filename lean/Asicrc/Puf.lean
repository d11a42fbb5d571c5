import Asicrc.Sum

/-!
# PUF distinguishability witness (theorem 4)

At one challenge, a device's response is summarized by counts over a finite list of response bins. Two devices
give bin `r` the same probability when `f₁ r / N₁ = f₂ r / N₂`, i.e. `f₁ r · N₂ = f₂ r · N₁` with `N` the totals.

* `findDiff` / `witness`: the verifier's search for the first bin whose probabilities differ (computable);
* `witness_sound`: a returned bin really has different probabilities;
* `exists_response_prob_ne`: if the two response distributions differ, some bin has different probability
  (and `witness` finds one);
* `no_witness_of_same`: identical distributions have no such bin.

Python twin: `asicrc.reservoir.puf.witness.distinguishing_response`.
-/

namespace Asicrc.Puf

variable {R : Type}

/-- Devices with counts `f₁`, `f₂` over bins `rs` give bin `r` the same probability (cross-multiplied). -/
def SameProb (rs : List R) (f₁ f₂ : R → Nat) (r : R) : Prop :=
  f₁ r * sumList rs f₂ = f₂ r * sumList rs f₁

/-- The two response distributions are identical on every bin. -/
def SameDistribution (rs : List R) (f₁ f₂ : R → Nat) : Prop :=
  ∀ r, r ∈ rs → SameProb rs f₁ f₂ r

/-- First bin of `l` whose cross-multiplied counts differ, given the totals `n₁`, `n₂`. -/
def findDiff (n₁ n₂ : Nat) (f₁ f₂ : R → Nat) : List R → Option R
  | [] => none
  | r :: rest => if f₁ r * n₂ = f₂ r * n₁ then findDiff n₁ n₂ f₁ f₂ rest else some r

/-- The verifier's witness: the first bin whose probability differs between the two devices, if any. -/
def witness (rs : List R) (f₁ f₂ : R → Nat) : Option R :=
  findDiff (sumList rs f₁) (sumList rs f₂) f₁ f₂ rs

theorem findDiff_sound (n₁ n₂ : Nat) (f₁ f₂ : R → Nat) (r : R) (l : List R) :
    findDiff n₁ n₂ f₁ f₂ l = some r → r ∈ l ∧ f₁ r * n₂ ≠ f₂ r * n₁ := by
  induction l with
  | nil =>
    intro h
    have hnone : findDiff n₁ n₂ f₁ f₂ ([] : List R) = none := rfl
    rw [hnone] at h
    cases h
  | cons x rest ih =>
    intro h
    have hunfold : findDiff n₁ n₂ f₁ f₂ (x :: rest)
        = (if f₁ x * n₂ = f₂ x * n₁ then findDiff n₁ n₂ f₁ f₂ rest else some x) := rfl
    rw [hunfold] at h
    by_cases hx : f₁ x * n₂ = f₂ x * n₁
    · rw [if_pos hx] at h
      have hr := ih h
      exact ⟨by simp [hr.1], hr.2⟩
    · rw [if_neg hx] at h
      cases h
      exact ⟨by simp, hx⟩

theorem findDiff_none (n₁ n₂ : Nat) (f₁ f₂ : R → Nat) (l : List R) :
    findDiff n₁ n₂ f₁ f₂ l = none → ∀ r, r ∈ l → f₁ r * n₂ = f₂ r * n₁ := by
  induction l with
  | nil => intro _ r hr; first | cases hr | simp at hr
  | cons x rest ih =>
    intro h r hr
    have hunfold : findDiff n₁ n₂ f₁ f₂ (x :: rest)
        = (if f₁ x * n₂ = f₂ x * n₁ then findDiff n₁ n₂ f₁ f₂ rest else some x) := rfl
    rw [hunfold] at h
    by_cases hx : f₁ x * n₂ = f₂ x * n₁
    · rw [if_pos hx] at h
      have hr' : r = x ∨ r ∈ rest := by
        first | exact List.mem_cons.mp hr | simpa using hr
      cases hr' with
      | inl e => subst e; exact hx
      | inr e => exact ih h r e
    · rw [if_neg hx] at h
      cases h

/-- A returned witness is a bin of the list whose probability differs between the two devices. -/
theorem witness_sound (rs : List R) (f₁ f₂ : R → Nat) (r : R) (h : witness rs f₁ f₂ = some r) :
    r ∈ rs ∧ ¬ SameProb rs f₁ f₂ r :=
  findDiff_sound (sumList rs f₁) (sumList rs f₂) f₁ f₂ r rs h

/-- No witness means identical distributions. -/
theorem same_of_witness_none (rs : List R) (f₁ f₂ : R → Nat) (h : witness rs f₁ f₂ = none) :
    SameDistribution rs f₁ f₂ :=
  findDiff_none (sumList rs f₁) (sumList rs f₂) f₁ f₂ rs h

/-- Theorem 4a: devices whose response distributions differ at a challenge have a response bin with
different probability. -/
theorem exists_response_prob_ne (rs : List R) (f₁ f₂ : R → Nat) (h : ¬ SameDistribution rs f₁ f₂) :
    ∃ r, r ∈ rs ∧ ¬ SameProb rs f₁ f₂ r := by
  cases hw : witness rs f₁ f₂ with
  | none => exact absurd (same_of_witness_none rs f₁ f₂ hw) h
  | some r => exact ⟨r, witness_sound rs f₁ f₂ r hw⟩

/-- Theorem 4b: identical distributions have no distinguishing response. -/
theorem no_witness_of_same (rs : List R) (f₁ f₂ : R → Nat) (h : SameDistribution rs f₁ f₂) :
    ¬ ∃ r, r ∈ rs ∧ ¬ SameProb rs f₁ f₂ r := by
  intro hex
  obtain ⟨r, hr, hne⟩ := hex
  exact hne (h r hr)

/-- The witness search is complete: it returns nothing exactly when the distributions are identical. -/
theorem witness_eq_none_iff (rs : List R) (f₁ f₂ : R → Nat) :
    witness rs f₁ f₂ = none ↔ SameDistribution rs f₁ f₂ := by
  constructor
  · exact same_of_witness_none rs f₁ f₂
  · intro h
    cases hw : witness rs f₁ f₂ with
    | none => rfl
    | some r => exact absurd h (fun hs => (witness_sound rs f₁ f₂ r hw).2 (hs r (witness_sound rs f₁ f₂ r hw).1))

end Asicrc.Puf
