"""The carrier Portal protocol (CMCC / Huawei v1/v2 / H3C / Ruijie): codec, exchanges, UDP
transport, vendor profiles, redirect parsing and the AC simulator. A library: it never imports
``portal`` or ``radius``."""
