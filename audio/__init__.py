"""sigkit.audio"""
