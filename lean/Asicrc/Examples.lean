import Asicrc.Predict
import Asicrc.Cost
import Asicrc.Puf
import Asicrc.Gate

/-!
# Concrete checks of the theorems' statements

Small closed instances, evaluated by the kernel, that the Python twin tests repeat (tests/lean/).
-/

namespace Asicrc.Examples

open Asicrc

/-- A perfectly correlated run: the observation equals the state. -/
def correlated : Joint Bool Bool :=
  { states := [false, true], obs := [false, true], weight := fun s o => if s = o then 1 else 0 }

/- The identity predictor is right on both outcomes (hits 2 of total 2) while the baseline is 1 of 2. -/
example : correlated.hits id = 2 ∧ correlated.baseline = 1 ∧ correlated.total = 2 := by decide

/- Hence, by theorem 2, the correlated run is not independent. -/
example : ¬ correlated.Independent :=
  not_independent_of_accuracy_gt_baseline correlated id
    (by intro s _; cases s <;> first | decide | simp [correlated]) (by decide) (by decide)

/- The paper's "92.19 %" for k = 5 of n = 64 rounds is the bound 1 - 5/64 = 59/64: savings with continue
probability 0 (a filter that aborts every nonce, including every valid share). -/
example : Cost.savedScaled 5 64 0 1 = 59 := by decide

/- With half of the nonces continuing, savings are 29.5/64 (scaled by b = 2: 59 of 128), below the bound. -/
example : Cost.savedScaled 5 64 1 2 = 59 ∧ 59 < (64 - 5) * 2 := by decide

/- Two devices with proportional response counts (1:2:3 and 2:4:6) have no witness; 1:2:3 vs 1:3:2 do. -/
example : Puf.witness ([0, 1, 2] : List Nat) (fun r : Nat => r + 1) (fun r : Nat => 2 * (r + 1)) = none := by
  decide
example : Puf.witness ([0, 1, 2] : List Nat) (fun r : Nat => r + 1)
    (fun r : Nat => if r = 1 then 3 else if r = 2 then 2 else 1) = some 1 := by
  decide

/- Theorem 5's condition at k = 5 (fixed = n = 64): keeping half of the nonces pays with recall 97/100 (work
197/2 rounds per nonce: 19700 < 24832), but not with recall 3/4, the most a one-bit leak of δ = 0.5 gives when
the less likely half is aborted (788 ≥ 768). -/
example : Cost.workScaled 64 5 64 1 2 * 100 < (64 + 64) * 2 * 97 := by decide
example : ¬ (Cost.workScaled 64 5 64 1 2 * 4 < (64 + 64) * 2 * 3) := by decide

end Asicrc.Examples
