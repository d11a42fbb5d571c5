"""Device fingerprinting (PUF): challenge schedule, response signatures, enrolment store, verification, FAR/FRR/EER.

See docs/puf.md. The exact distinguishability witness (`witness.py`) is the Python twin of lean/Asicrc/Puf.lean.
"""
