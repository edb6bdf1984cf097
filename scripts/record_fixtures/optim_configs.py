"""Optimiser configurations shared by record_optim.py (optax/torch) and tests/test_optim*.py.

Plain data only (no jax, torch or vfunc imports), so the tests can read it from the fixture's
JSON copy. Each config is a list of ``[transform_name, kwargs]`` (one entry: that alias; more:
their ``chain``). A kwargs value ``{"schedule": name, "kwargs": {...}}`` is a schedule, and
the string ``"LR"`` is the problem's learning rate. ``torch`` gives the torch.optim class and
arguments with the same equations (see record_optim.py's notes), or None.
"""

CONFIGS = {
    "sgd": {"optax": [["sgd", {"learning_rate": "LR"}]],
            "torch": ["SGD", {"lr": "LR"}]},
    "sgd_momentum": {"optax": [["sgd", {"learning_rate": "LR", "momentum": 0.9}]],
                     "torch": ["SGD", {"lr": "LR", "momentum": 0.9}]},
    "sgd_nesterov": {"optax": [["sgd", {"learning_rate": "LR", "momentum": 0.9,
                                        "nesterov": True}]],
                     "torch": ["SGD", {"lr": "LR", "momentum": 0.9, "nesterov": True}]},
    "adam": {"optax": [["adam", {"learning_rate": "LR"}]],
             "torch": ["Adam", {"lr": "LR"}]},
    "adamw": {"optax": [["adamw", {"learning_rate": "LR", "weight_decay": 0.01}]],
              "torch": ["AdamW", {"lr": "LR", "weight_decay": 0.01}]},
    "nadam": {"optax": [["nadam", {"learning_rate": "LR"}]], "torch": None},
    "nadamw": {"optax": [["nadamw", {"learning_rate": "LR", "weight_decay": 0.01}]],
               "torch": None},
    "amsgrad": {"optax": [["amsgrad", {"learning_rate": "LR"}]], "torch": None},
    # b2 = 0 makes torch's max-then-debias and optax's debias-then-max the same.
    "amsgrad_b2_0": {"optax": [["amsgrad", {"learning_rate": "LR", "b2": 0.0}]],
                     "torch": ["Adam", {"lr": "LR", "betas": [0.9, 0.0], "amsgrad": True}]},
    "adamax": {"optax": [["adamax", {"learning_rate": "LR"}]],
               "torch": ["Adamax", {"lr": "LR"}]},
    "radam": {"optax": [["radam", {"learning_rate": "LR"}]], "torch": None},
    # eps = 0: torch adds eps to sqrt(v), optax to sqrt(v / bias correction).
    "radam_eps_0": {"optax": [["radam", {"learning_rate": "LR", "eps": 0.0}]],
                    "torch": ["RAdam", {"lr": "LR", "eps": 0.0}]},
    "rmsprop": {"optax": [["rmsprop", {"learning_rate": "LR"}]], "torch": None},
    "rmsprop_eps_outside": {
        "optax": [["rmsprop", {"learning_rate": "LR", "eps_in_sqrt": False}]],
        "torch": ["RMSprop", {"lr": "LR", "alpha": 0.9, "eps": 1e-8}]},
    "rmsprop_centered_momentum": {
        "optax": [["rmsprop", {"learning_rate": "LR", "eps_in_sqrt": False, "centered": True,
                               "momentum": 0.9}]],
        "torch": ["RMSprop", {"lr": "LR", "alpha": 0.9, "eps": 1e-8, "centered": True,
                              "momentum": 0.9}]},
    "adagrad": {"optax": [["adagrad", {"learning_rate": "LR"}]], "torch": None},
    # eps = 0: torch adds eps outside the square root, optax inside.
    "adagrad_eps_0": {"optax": [["adagrad", {"learning_rate": "LR", "eps": 0.0}]],
                      "torch": ["Adagrad", {"lr": "LR", "initial_accumulator_value": 0.1,
                                            "eps": 0.0}]},
    "adadelta": {"optax": [["adadelta", {"learning_rate": 1.0}]],
                 "torch": ["Adadelta", {"lr": 1.0, "rho": 0.9, "eps": 1e-6}]},
    "adafactor": {"optax": [["adafactor", {"learning_rate": "LR"}]], "torch": None},
    "lion": {"optax": [["lion", {"learning_rate": "LR"}]], "torch": None},
    "lamb": {"optax": [["lamb", {"learning_rate": "LR", "weight_decay": 0.01}]],
             "torch": None},
    "lars": {"optax": [["lars", {"learning_rate": "LR", "weight_decay": 0.01}]],
             "torch": None},
    "muon": {"optax": [["muon", {"learning_rate": "LR"}]], "torch": None},
    "muon_aol_dion": {"optax": [["muon", {"learning_rate": "LR", "preconditioning": "aol",
                                          "ns_coeffs": "dion", "weight_decay": 0.01}]],
                      "torch": None},
    "muon_schatten_adaptive": {"optax": [["muon", {"learning_rate": "LR",
                                                   "preconditioning": "schatten",
                                                   "adaptive": True, "nesterov": False}]],
                               "torch": None},
    "adamw_warmup_cosine": {
        "optax": [["adamw", {"learning_rate": {"schedule": "warmup_cosine_decay_schedule",
                                               "kwargs": {"init_value": 0.0,
                                                          "peak_value": "LR",
                                                          "warmup_steps": 5,
                                                          "decay_steps": 30}},
                             "weight_decay": 0.01}]],
        "torch": None},
    "clip_global_norm_adam": {
        "optax": [["clip_by_global_norm", {"max_norm": 1.0}], ["adam", {"learning_rate": "LR"}]],
        "torch": None},
    "clip_sgd": {"optax": [["clip", {"max_delta": 0.5}], ["sgd", {"learning_rate": "LR"}]],
                 "torch": None},
    "block_rms_trace": {"optax": [["clip_by_block_rms", {"threshold": 0.5}],
                                  ["trace", {"decay": 0.5}],
                                  ["scale", {"step_size": -0.01}]],
                        "torch": None},
    "ema_sgd": {"optax": [["ema", {"decay": 0.9}], ["sgd", {"learning_rate": "LR"}]],
                "torch": None},
    "adam_schedule_exp": {
        "optax": [["adam", {"learning_rate": {"schedule": "exponential_decay",
                                              "kwargs": {"init_value": "LR",
                                                         "transition_steps": 3,
                                                         "decay_rate": 0.9}}}]],
        "torch": None},
}  # fmt: skip

# Learning rate per problem (the Rosenbrock valley needs small steps).
LEARNING_RATES = {"quadratic": 0.1, "rosenbrock": 1e-3, "mlp": 0.05}

STEPS = 30

SCHEDULES = {
    "constant": ["constant_schedule", {"value": 0.3}],
    "linear": ["linear_schedule", {"init_value": 1.0, "end_value": 0.1, "transition_steps": 20,
                                   "transition_begin": 5}],
    "polynomial": ["polynomial_schedule", {"init_value": 1.0, "end_value": 0.01, "power": 2.5,
                                           "transition_steps": 30}],
    "exponential": ["exponential_decay", {"init_value": 1.0, "transition_steps": 7,
                                          "decay_rate": 0.5, "transition_begin": 3}],
    "exponential_staircase": ["exponential_decay", {"init_value": 2.0, "transition_steps": 7,
                                                    "decay_rate": 0.5, "staircase": True,
                                                    "end_value": 0.3}],
    "cosine": ["cosine_decay_schedule", {"init_value": 1.0, "decay_steps": 25, "alpha": 0.1}],
    "cosine_exponent": ["cosine_decay_schedule", {"init_value": 1.0, "decay_steps": 25,
                                                  "exponent": 2.0}],
    "warmup_cosine": ["warmup_cosine_decay_schedule", {"init_value": 0.0, "peak_value": 1.0,
                                                       "warmup_steps": 8, "decay_steps": 40,
                                                       "end_value": 0.05}],
    "piecewise_constant": ["piecewise_constant_schedule", {"init_value": 1.0,
                                                           "boundaries_and_scales":
                                                               {"10": 0.5, "25": 0.1}}],
    "onecycle": ["cosine_onecycle_schedule", {"transition_steps": 40, "peak_value": 1.0}],
    "linear_onecycle": ["linear_onecycle_schedule", {"transition_steps": 40,
                                                     "peak_value": 1.0}],
    "sgdr": ["sgdr_schedule", {"cosine_kwargs": [
        {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 3, "decay_steps": 15},
        {"init_value": 0.1, "peak_value": 0.5, "warmup_steps": 2, "decay_steps": 20}]}],
    "warmup_exponential": ["warmup_exponential_decay_schedule", {
        "init_value": 0.0, "peak_value": 1.0, "warmup_steps": 5, "transition_steps": 4,
        "decay_rate": 0.8}],
}  # fmt: skip
SCHEDULE_STEPS = 60
