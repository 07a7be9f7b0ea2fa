"""Mass-decorrelation plugins for jetplug (kind ``decorrelator``).

* ``tau21_ddt``: τ21 designed to be decorrelated (Dolen et al., arXiv:1603.00027);
* ``ddt_<name>``: a DDT map of any tagger score (the QCD quantile in bins of ρ and pT,
  as CMS's N2-DDT), one plugin per fitted map;
* ``adv_w``, ``adv_top``, ``disco_w``, ``disco_top``: networks trained against an
  adversary (arXiv:1611.01046) or with a distance-correlation penalty (arXiv:2001.05310),
  each shipping a λ scan as named working points.

See docs/decorrelation.md.
"""
