"""The commands: one module or package each, an options dataclass and an entry function
that returns a result. They never print or exit."""
