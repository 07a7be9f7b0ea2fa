"""Few-shot taggers for jetplug (kind ``tagger``): a meta-learned start adapted with K jets.

* ``models/init_maml.pt``: an MLP initialisation meta-learned with MAML
  (:mod:`jetplug.training.meta`) on top, Z→qq and H→bb against QCD, so that a
  few gradient steps on K labelled jets of a *new* signal give a tagger;
  ``models/init_pooled.pt``: the same network pre-trained on the pooled tasks
  (the baseline a physicist would try first);
* :func:`jetplug_meta.adapt.adapt_files` (``python -m jetplug_meta.adapt``):
  the few-shot adaptation, writing a plugin ``meta_<name>``;
* ``meta_w``: the shipped example, the MAML start adapted to W→qq with
  K = 100 labelled jets.

See docs/meta.md.
"""
