/* gcc's -fsanitize-coverage=trace-cmp also reports float/double comparisons, which libFuzzer has no hooks
 * for; these empty hooks let the fuzz build load (float compares then give no feedback, which is fine:
 * the decoder has none). */
void __sanitizer_cov_trace_cmpf(float a, float b);
void __sanitizer_cov_trace_cmpd(double a, double b);
void __sanitizer_cov_trace_cmpf(float a, float b) { (void)a; (void)b; }
void __sanitizer_cov_trace_cmpd(double a, double b) { (void)a; (void)b; }
