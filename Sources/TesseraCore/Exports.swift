// Code that uses the library sees the model contract and the settings system through
// TesseraCore; plugins import TesseraModelKit alone.
@_exported import TesseraModelKit
@_exported import TesseraSettings
