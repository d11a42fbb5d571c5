"""asicrc.reservoir: devices as reservoirs, NARMA-10 with controls, memory capacity, `asicrc narma`.

Public API (see docs/reservoir.md):
  narma.generate_narma10(n, seed, burn_in=200, bound=1.0) -> NarmaSeries(u, target, rejected_draws)
  split.ChronoSplit(n, washout, train_end) / ChronoSplit.by_fraction(n, washout, train_fraction=0.8)
  readouts.fit_ridge_cv(X, y, split, alphas=..., n_folds=5, gap=None) -> RidgeFit (.predict(X), .alpha, .lam)
  readouts.RLSReadout(n_features, forgetting=0.999, alpha=1e-2).update(x, y) / .predict(X)
  metrics.nrmse / nmse / nrmse_range / mean_ci / paired_less
  memory.linear_memory_capacity(states, u, split, kmax=40) -> MemoryCapacity(total, per_lag)
  features.extract_features(event_columns, bounds_ns, virtual_nodes=1) -> FeatureMatrix(values, names)
  eventcols.events_to_columns(events) -> dict of numpy columns
  encoding.EncoderConfig / InputEncoder(cfg, envelope, sub_period_s).actuation(u, sub) -> Actuation
  backends.make_backend(name, BackendOptions) (names: esn, sim:s9, sim:lv06); async backend.drive(...)
  recording.save_run / load_run / RunRecord;  experiment.run_experiment / replay
Sub-packages tpf/ and puf/ belong to their own areas.
"""
