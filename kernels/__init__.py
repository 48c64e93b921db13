"""sigkit.kernels"""
