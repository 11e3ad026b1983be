"""Config handling: composing the Hydra config, its resolvers, up-front validation (rules,
method/backbone combinations, sweep jobs) and instantiating named callbacks and loggers."""
