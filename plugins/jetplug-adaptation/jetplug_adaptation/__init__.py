"""Domain-adapted taggers for jetplug (kind ``tagger``).

* ``dann_top``: domain-adversarial training (Ganin et al., arXiv:1409.7495), a
  domain classifier on the hidden representation behind a gradient reversal
  layer, with unlabelled target-domain jets;
* ``sysadv_top``: systematic-aware adversarial training (Louppe, Kagan &
  Cranmer, arXiv:1611.01046), an adversary predicting nominal vs shifted
  simulation from the score.

Each ships a λ scan as named working points. See docs/domain.md.
"""
