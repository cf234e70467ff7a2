"""imcsim.report"""
