"""The layer table that configs use; user modules join with ``@register``."""

from ..registry import Registry

MODULES = Registry("layer")


def register(name_or_cls=None):
    """Add a Module subclass to :data:`MODULES` under a lower-case name.

    Use as ``@register`` (name: the class name in lower case) or ``@register("myname")``.
    Registering another class under a taken name is an error; re-registering the same class (a
    plugin file imported twice, as a plugin and by ``import``) is allowed.
    """
    def add(cls, name):
        from .base import Module
        if not (isinstance(cls, type) and issubclass(cls, Module)):
            raise TypeError(f"register expects a subclass of layerwise.Module. Got {cls!r} instead.")
        key = (name or cls.__name__).lower()
        try:
            MODULES[key] = cls
        except ValueError as e:
            raise ValueError(f"{str(e).rstrip('.')} with @register('name').") from None
        return cls

    if isinstance(name_or_cls, type):
        return add(name_or_cls, None)
    return lambda cls: add(cls, name_or_cls)
