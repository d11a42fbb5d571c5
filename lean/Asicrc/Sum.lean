/-!
# Finite sums and maxima over lists of natural numbers

A finite distribution is a list of outcomes with natural-number weights (counts), so the only analysis the
proofs need is: sums over a list, the maximum over a list, and three elementary lemmas. They are defined here
by plain recursion so that no proof depends on library lemmas about `List.sum` (whose names drift between
Lean releases).
-/

namespace Asicrc

/-- Sum of `f x` over the list `l`. -/
def sumList {α : Type} : List α → (α → Nat) → Nat
  | [], _ => 0
  | a :: l, f => f a + sumList l f

/-- Largest `f x` over the list `l` (0 for the empty list). -/
def maxList {α : Type} : List α → (α → Nat) → Nat
  | [], _ => 0
  | a :: l, f => max (f a) (maxList l f)

/-- Sums are monotone in the summand (pointwise on the members of the list). -/
theorem sumList_le_sumList {α : Type} (f g : α → Nat) (l : List α) :
    (∀ x, x ∈ l → f x ≤ g x) → sumList l f ≤ sumList l g := by
  induction l with
  | nil => intro _; first | exact Nat.le_refl 0 | simp [sumList]
  | cons a l ih =>
    intro h
    have ha : f a ≤ g a := h a (by simp)
    have hl : sumList l f ≤ sumList l g := ih (fun x hx => h x (by simp [hx]))
    first
      | (simp only [sumList]; omega)
      | (show f a + sumList l f ≤ g a + sumList l g; omega)

/-- A constant factor moves inside a sum. -/
theorem sumList_mul {α : Type} (f : α → Nat) (c : Nat) (l : List α) :
    sumList l f * c = sumList l (fun x => f x * c) := by
  induction l with
  | nil => first | (simp only [sumList, Nat.zero_mul]) | rfl | simp [sumList]
  | cons a l ih =>
    first
      | (simp only [sumList]; rw [Nat.add_mul, ih])
      | (show (f a + sumList l f) * c = f a * c + sumList l (fun x => f x * c); rw [Nat.add_mul, ih])

/-- Every member's value is at most the maximum. -/
theorem le_maxList {α : Type} (f : α → Nat) (l : List α) : ∀ x, x ∈ l → f x ≤ maxList l f := by
  induction l with
  | nil => intro x hx; first | cases hx | simp at hx
  | cons a l ih =>
    intro x hx
    have hx' : x = a ∨ x ∈ l := by
      first | exact List.mem_cons.mp hx | simpa using hx
    have hmax : f a ≤ max (f a) (maxList l f) ∧ maxList l f ≤ max (f a) (maxList l f) := by
      first
        | exact ⟨Nat.le_max_left _ _, Nat.le_max_right _ _⟩
        | (constructor <;> omega)
    have hunfold : maxList (a :: l) f = max (f a) (maxList l f) := by
      first | rfl | simp only [maxList]
    rw [hunfold]
    cases hx' with
    | inl e => subst e; exact hmax.1
    | inr e => exact Nat.le_trans (ih x e) hmax.2

/-- Cancelling a positive factor in an inequality (own proof: the core lemma's argument order has changed). -/
theorem le_of_mul_le_mul_pos {a b c : Nat} (h : a * c ≤ b * c) (hc : 0 < c) : a ≤ b := by
  cases Nat.lt_or_ge b a with
  | inr hge => exact hge
  | inl hlt =>
    obtain ⟨d, hd⟩ : ∃ d, a = b + d + 1 := ⟨a - b - 1, by omega⟩
    subst hd
    have hdc : 0 ≤ d * c := Nat.zero_le _
    have hexp : (b + d + 1) * c = b * c + d * c + c := by
      first
        | (simp only [Nat.add_mul, Nat.one_mul])
        | (rw [Nat.add_mul, Nat.add_mul, Nat.one_mul])
    omega

/-- Multiplying a strict inequality by a positive factor keeps it strict (own proof, no library name needed). -/
theorem mul_lt_mul_pos_right {x y c : Nat} (h : x < y) (hc : 0 < c) : x * c < y * c := by
  have h1 : x + 1 ≤ y := by omega
  have h2 : (x + 1) * c ≤ y * c := Nat.mul_le_mul h1 (Nat.le_refl c)
  have h3 : (x + 1) * c = x * c + c := by
    first
      | (rw [Nat.add_mul x 1 c, Nat.one_mul])
      | (simp only [Nat.add_mul, Nat.one_mul])
  omega

/-- Cancelling a common factor in a strict inequality (no positivity needed: `x · 0 < y · 0` is false). -/
theorem lt_of_mul_lt_mul_pos {x y c : Nat} (h : x * c < y * c) : x < y := by
  cases Nat.lt_or_ge x y with
  | inl hlt => exact hlt
  | inr hge =>
    have h1 : y * c ≤ x * c := Nat.mul_le_mul hge (Nat.le_refl c)
    omega

end Asicrc
