"""The rule families: one module per family, each reading the public :mod:`~homeport.check.context`.

``schema`` (HP-S002..S004, S006), ``helm`` (HP-S005, S008), ``schedules`` (HP-S007),
``refs`` (HP-R001..R004, R007..R010), ``secrets`` (HP-R005), ``policy`` (HP-P000..P012)
and ``egress`` (HP-P013). HP-S001 and HP-R006 are found while reading the tree
(:mod:`homeport.check.tree`). See ``docs/check.md``.
"""
