"""Analyses of localization runs, all scored through the one evaluation entry
(`wsol.evaluation.loop.evaluate`) under the run's own protocol: mask and part coverage
(`coverage`, `part_whole`), each declared extra map of a run (`run_analyses`), reference score
maps (`reference_maps`) and sweep summaries (`sweep`, `summary`). Studies of one method live with
it or in ``scripts/`` (ACoL's branches: ``scripts/acol_branches.py``).
"""
