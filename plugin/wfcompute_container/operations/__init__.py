"""Operations: what the plugin does, importable without the RPC layer."""
