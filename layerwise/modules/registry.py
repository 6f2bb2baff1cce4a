"""Name -> class tables that configs use; user modules join with ``@register``."""

MODULES = {}


def register(name_or_cls=None):
    """Add a Module subclass to :data:`MODULES` under a lower-case name.

    Use as ``@register`` (name: the class name in lower case) or ``@register("myname")``.
    Registering another class under a taken name is an error; re-registering the same
    class (a plugin imported twice) is allowed.
    """
    def add(cls, name):
        from .base import Module
        if not (isinstance(cls, type) and issubclass(cls, Module)):
            raise TypeError(f"register expects a subclass of layerwise.Module. Got {cls!r} instead.")
        key = (name or cls.__name__).lower()
        old = MODULES.get(key)
        if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"The layer name '{key}' is already registered to {old.__module__}."
                             f"{old.__qualname__}; choose another name with @register('name').")
        MODULES[key] = cls
        return cls

    if isinstance(name_or_cls, type):
        return add(name_or_cls, None)
    return lambda cls: add(cls, name_or_cls)
