"""Analysis of runs and models: comparison reports, videos of imagined rollouts, speed measurements.

Reads what training writes (run directories, checkpoints, episodes) and what agents are; nothing in
``envs``, ``world_model``, ``planners`` or ``agents`` imports it: ``scripts`` wire it in.
"""
