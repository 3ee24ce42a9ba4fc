# irprobe: the host companion (CPython): CLI, simulator, sync, export. MIT licence.
__version__ = "0.1.0"
