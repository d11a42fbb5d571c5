"""Virtual block manager experiments: the A/B test of the VBM option (`ab.py`) and its command (`asicrc vbm-ab`).

The VBM itself is a Stratum server option (asicrc.drivers.stratum.vbm); this package only measures it.
"""
