import TesseraCLI

ProcessSetup.configure()
TesseraCommand.main()
