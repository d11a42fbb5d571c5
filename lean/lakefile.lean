import Lake
open Lake DSL

-- Core Lean 4 only (no Mathlib): the statements are about natural-number counts, so nothing else is needed.
package asicrc where
  -- no package options

@[default_target]
lean_lib Asicrc where
  -- the root module `Asicrc` imports every proof file
