"""The desktop viewer: PySide6 + pyqtgraph, observing the Qt-free core.

Layout of the package:

- :mod:`~mspviewer.gui.app`: ``main(argv)`` (window, ``--screenshot`` headless mode).
- :mod:`~mspviewer.gui.main_window`: the window, its menus, docks and actions, with four
  mixins: :mod:`~mspviewer.gui.file_actions` (opening images, bitstreams, references and
  models), :mod:`~mspviewer.gui.exports` (saving and exporting),
  :mod:`~mspviewer.gui.teaching` (inspector, replay, fresh-process check, blind A/B, tour)
  and :mod:`~mspviewer.gui.task_results` (what each finished or failed task changes);
  :mod:`~mspviewer.gui.tour` is the guided tour itself.
- :mod:`~mspviewer.gui.session`: the state (image, model, result, comparisons) that every
  panel observes.
- :mod:`~mspviewer.gui.worker`: off-GUI-thread task runners consuming generators.
- :mod:`~mspviewer.gui.jobs`: the tasks themselves, as Qt-free generators calling the core
  (the learned codec's; :mod:`~mspviewer.gui.classic_jobs`, :mod:`~mspviewer.gui.export_jobs`
  and :mod:`~mspviewer.gui.replay_jobs` hold the classic codecs', the file exports' and the
  decode replay's); :mod:`~mspviewer.gui.outcomes`: what they are asked for and hand back
  (Qt-free data).
- :mod:`~mspviewer.gui.latent_data`: Qt-free views of an ``AnalysisRecord`` (per-scale
  arrays, bit allocation), shared by the panels and by later inspection tools.
- :mod:`~mspviewer.gui.widgets`: the panels.

Nothing here implements codec logic: encoding, decoding, metrics and classic codecs all come
from the core (``mspviewer.codec``, ``mspviewer.metrics``, ``mspviewer.rd``,
``mspviewer.baselines``).
"""
