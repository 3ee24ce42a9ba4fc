# probe.boot: builds the reader app at power-up from /board.json, /config.json and the record
# store (device side). Every missing or damaged part falls back to a default with a note in
# /irprobe.log, so the probe always starts. Imported once by probe.main, then dropped.
import gc

from probe import fsys
from probe.app import App, drop_modules
from probe.flashlog import describe, log
from probe.led import ERROR, STORAGE_FULL
from probe.usb_watch import UsbWatch, server_builder


def boot():
    """Build the App from the board file, settings and storage; every missing or damaged
    part falls back to a default with a logged note, so the probe always starts."""
    hw = _hardware()
    config = _load_config()
    store, store_error = _make_store()
    app = App(hw, config, store)
    app.store_error = store_error
    app.server = UsbWatch(server_builder(app, store, config))
    app.uplink = _make_uplink(config, store)
    # Tables built on first use would be built at the first commit, in a fragmented heap:
    # build them now, while the heap is still in one piece.
    from meterproto.link.records import crc16

    crc16(b"\x00")
    gc.collect()
    return app


def _hardware():
    from probe import board as boardmod

    path = fsys.ROOT + "/board.json"
    try:
        spec = boardmod.load(path)
        if spec is boardmod.DEFAULT:
            print("irprobe: no /board.json: using the built-in Raspberry Pi Pico layout")
    except Exception as e:  # BoardError (plain words), or an unreadable file
        log("/board.json cannot be used (%s); using the built-in Raspberry Pi Pico layout"
            % describe(e))
        spec = boardmod.DEFAULT
    try:
        import machine
    except ImportError:  # CircuitPython has no `machine`
        machine = None
    try:
        hw = _build_hardware(spec, machine)
    except Exception as e:
        if spec is boardmod.DEFAULT:
            raise
        log("the pins in /board.json do not work on this board (%s); using the built-in "
            "Raspberry Pi Pico layout" % describe(e), e)
        hw = _build_hardware(boardmod.DEFAULT, machine)
    drop_modules(("probe.board",))  # only needed at boot
    return hw


def _build_hardware(spec, machine):
    if machine is not None:
        from probe.hal_mp import Hardware

        return Hardware(spec, machine)
    from probe.hal_cp import Hardware

    return Hardware(spec)


def _load_config():
    from probe.config import Config
    from probe.fsys import Fsys

    config = Config(Fsys(fsys.ROOT))
    try:
        config.load()
    except Exception as e:
        log("the settings cannot be read (%s); using the defaults" % describe(e), e)
        config = Config(Fsys(fsys.ROOT))  # defaults in RAM; the host can still set them
    if getattr(config, "note", None):
        log(config.note)
    return config


def _make_uplink(config, store):
    """The MQTT logger (probe.uplink) when the options name a broker, else None."""
    opts = config.data.get("options") if config is not None else None
    if store is None or not isinstance(opts, dict) or not opts.get("mqtt_host"):
        return None
    try:
        import umqtt.simple  # noqa: F401  (installed by `irprobe install --board pico_w`)
        from meterproto import __version__
        from probe import uplink, wifi

        return uplink.Uplink(store, opts, uplink.device_id(), __version__, wifi.make(opts))
    except Exception as e:
        log("mqtt_host is set but the MQTT logger cannot start (%s): install with "
            "`irprobe install --board pico_w`" % describe(e), e)
        return None


def _make_store():
    """(Store, None), or (None, (outcome, why)) when the flash cannot hold records."""
    try:
        from probe.fsys import Fsys
        from probe.store import Store

        store = Store(Fsys(fsys.ROOT))
        fixed = store.recover()  # drop a commit cut short by a power loss (probe.store)
    except Exception as e:
        # StoreFull by name (probe.store may be missing), or ENOSPC (28) from the file system
        full = type(e).__name__ == "StoreFull" or (
            isinstance(e, OSError) and e.args and e.args[0] == 28)
        why = "the flash is full" if full else "the storage does not work (%s)" % describe(e)
        log("%s: readings will not be stored" % why, None if full else e)
        return None, (STORAGE_FULL if full else ERROR, why)
    if fixed["removed_tmp"] or fixed["quarantined"] or fixed["deleted_acked"]:
        log("storage check: %d unfinished files removed, %d damaged records set aside, "
            "%d acknowledged records deleted"
            % (fixed["removed_tmp"], fixed["quarantined"], fixed["deleted_acked"]))
    try:
        store.check_room()
    except Exception as e:
        log(str(e))  # StoreFull: reads will say so too (storage-full pattern)
    return store, None
