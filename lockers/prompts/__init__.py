"""The kiosk's spoken prompts: one audio file per text of :mod:`lockers.i18n` and language.

Built by ``lockers prompts build`` (espeak-ng) into ``<data_dir>/prompts``, replaceable by a
site's own recordings (``accessibility.prompts_dir``). No Qt here: the doctor checks the files,
the UI's voice plays them.
"""
