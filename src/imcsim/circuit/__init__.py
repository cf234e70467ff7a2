"""imcsim.circuit"""
