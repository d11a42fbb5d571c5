import Asicrc.Sum

/-!
# Independence bounds every predictor by the baseline (theorems 1 and 2)

A finite joint distribution of (state, observation) is a list of states, a list of observations and a
natural-number weight (count) for every pair; probabilities are weights divided by the total, so every
statement below is about natural numbers, cross-multiplied where a ratio would appear.

* `accuracy_le_baseline_of_independent`: if the counts factorize into their marginals, no predictor of the
  observation from the state is right more often than always guessing the most common observation.
* `not_independent_of_accuracy_gt_baseline`: the contrapositive: a predictor whose *true* accuracy beats the
  baseline proves the distribution is not independent. Both are about the exact distribution; the TPF gate sees
  a finite held-out sample, and turning that into evidence is the job of its statistical test (DeLong, Holm,
  power: asicrc.reservoir.tpf.stats and .power), which is not formalized here.

Python twin: `asicrc.reservoir.tpf.independence` (`is_independent`, `predictor_accuracy`, `baseline_accuracy`).
-/

namespace Asicrc

/-- Counts of (state, observation) outcomes over finite lists of states and observations. -/
structure Joint (S O : Type) where
  states : List S
  obs : List O
  weight : S → O → Nat

variable {S O : Type}

/-- Marginal count of a state. -/
def Joint.stateMass (J : Joint S O) (s : S) : Nat := sumList J.obs (fun o => J.weight s o)

/-- Marginal count of an observation. -/
def Joint.obsMass (J : Joint S O) (o : O) : Nat := sumList J.states (fun s => J.weight s o)

/-- Total count N; a probability is a count divided by N. -/
def Joint.total (J : Joint S O) : Nat := sumList J.states (fun s => J.stateMass s)

/-- The counts factorize into their marginals: P(s, o) = P(s) P(o), i.e. w(s, o) · N = w(s) · w(o). -/
def Joint.Independent (J : Joint S O) : Prop :=
  ∀ s, s ∈ J.states → ∀ o, o ∈ J.obs → J.weight s o * J.total = J.stateMass s * J.obsMass o

/-- Count of outcomes a predictor `g` gets right; its accuracy is `hits g / total`. -/
def Joint.hits (J : Joint S O) (g : S → O) : Nat := sumList J.states (fun s => J.weight s (g s))

/-- Largest observation marginal count; the baseline accuracy is `baseline / total`. -/
def Joint.baseline (J : Joint S O) : Nat := maxList J.obs (fun o => J.obsMass o)

/-- Theorem 1: under independence every predictor's accuracy is at most the baseline
(`hits g / total ≤ baseline / total`, stated as `hits g ≤ baseline`). -/
theorem accuracy_le_baseline_of_independent (J : Joint S O) (g : S → O)
    (hg : ∀ s, s ∈ J.states → g s ∈ J.obs) (hpos : 0 < J.total) (hind : J.Independent) :
    J.hits g ≤ J.baseline := by
  have step1 : J.hits g * J.total = sumList J.states (fun s => J.weight s (g s) * J.total) :=
    sumList_mul (fun s => J.weight s (g s)) J.total J.states
  have step2 : sumList J.states (fun s => J.weight s (g s) * J.total)
      ≤ sumList J.states (fun s => J.stateMass s * J.baseline) := by
    apply sumList_le_sumList
    intro s hs
    show J.weight s (g s) * J.total ≤ J.stateMass s * J.baseline
    have hfac : J.weight s (g s) * J.total = J.stateMass s * J.obsMass (g s) :=
      hind s hs (g s) (hg s hs)
    have hmax : J.obsMass (g s) ≤ J.baseline := le_maxList (fun o => J.obsMass o) J.obs (g s) (hg s hs)
    rw [hfac]
    exact Nat.mul_le_mul (Nat.le_refl _) hmax
  have step3 : sumList J.states (fun s => J.stateMass s * J.baseline) = J.total * J.baseline :=
    (sumList_mul (fun s => J.stateMass s) J.baseline J.states).symm
  have hcomm : J.total * J.baseline = J.baseline * J.total := Nat.mul_comm _ _
  -- hits · N = Σ w(s, g s) · N ≤ Σ w(s) · baseline = N · baseline = baseline · N
  have key : J.hits g * J.total ≤ J.baseline * J.total :=
    Nat.le_trans (Nat.le_of_eq step1) (Nat.le_trans step2 (Nat.le_of_eq (step3.trans hcomm)))
  exact le_of_mul_le_mul_pos key hpos

/-- Theorem 2: a predictor whose accuracy exceeds the baseline proves the distribution is not independent. -/
theorem not_independent_of_accuracy_gt_baseline (J : Joint S O) (g : S → O)
    (hg : ∀ s, s ∈ J.states → g s ∈ J.obs) (hpos : 0 < J.total) (hgt : J.baseline < J.hits g) :
    ¬ J.Independent := by
  intro hind
  have hle := accuracy_le_baseline_of_independent J g hg hpos hind
  exact Nat.lt_irrefl _ (Nat.lt_of_lt_of_le hgt hle)

end Asicrc
