import TesseraCLI
import TesseraCore

ProcessSetup.configure()
TesseraCommand.main()
