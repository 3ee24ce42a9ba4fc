# meterproto.link: the probe <-> host USB command channel and the stored record format.
