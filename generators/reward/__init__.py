"""Process reward models: scores of reasoning steps, asked for through the generation engine.

``base`` holds the contract (``ScoreRequest`` → ``StepScores``, ``RewardModel``), ``spec`` parses a
``--value-model`` SPEC and builds the model, ``routing`` lets a policy backend and a reward model share one
engine (a program yields generation and score requests alike). The models: ``scripted`` (tests),
``token_classification`` (a PRM folder as TRL's PRMTrainer writes it), ``generative`` (a causal LM's
``+``/``-`` at each step), ``http`` (a vLLM reward server).
"""
