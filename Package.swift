// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Tessera",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "tessera", targets: ["tessera"]),
        .library(name: "TesseraCore", targets: ["TesseraCore"]),
        // What a model plugin links: the model protocol, the registry types and the NN layers.
        .library(name: "TesseraModelKit", targets: ["TesseraModelKit"]),
        // The plugin contract, for plugin authors to run on their own models.
        .library(name: "TesseraModelTesting", targets: ["TesseraModelTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // MARK: C boundary (system libraries and fixed-arity wrappers; no logic)
        .systemLibrary(
            name: "CVips",
            path: "Sources/CVips",
            pkgConfig: "vips",
            providers: [.apt(["libvips-dev"])]
        ),
        .systemLibrary(
            name: "COpenBLAS",
            path: "Sources/COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            path: "Sources/CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(
            name: "CDeflate",
            path: "Sources/CDeflate",
            pkgConfig: "libdeflate",
            providers: [.apt(["libdeflate-dev"])]
        ),
        .systemLibrary(
            name: "CMalloc",
            path: "Sources/CMalloc"
        ),
        .target(
            name: "CVipsShim",
            dependencies: ["CVips"],
            path: "Sources/CVipsShim"
        ),

        // MARK: Compute kernels in C (AVX2 paths chosen at run time, scalar or GEMM fallbacks)
        .target(
            name: "CKernels",
            path: "Sources/CKernels"
        ),

        // MARK: Library modules
        .target(
            name: "TesseraImaging",
            dependencies: ["CVips", "CVipsShim", "CZlib", "CDeflate", "CKernels"],
            path: "Sources/TesseraImaging"
        ),
        .target(
            name: "TesseraTensor",
            dependencies: ["COpenBLAS", "CKernels"],
            path: "Sources/TesseraTensor"
        ),
        .target(
            name: "TesseraNN",
            dependencies: ["TesseraTensor"],
            path: "Sources/TesseraNN"
        ),
        // Settings: strict YAML with FILE:LINE:COLUMN errors, layered defaults ← file ← flags.
        .target(
            name: "TesseraSettings",
            dependencies: [.product(name: "Yams", package: "Yams")],
            path: "Sources/TesseraSettings"
        ),
        // The model contract plugins see: no libvips, no dataset code.
        .target(
            name: "TesseraModelKit",
            dependencies: ["TesseraNN", "TesseraTensor"],
            path: "Sources/TesseraModelKit"
        ),
        .target(
            name: "TesseraModelTesting",
            dependencies: ["TesseraModelKit", "TesseraNN", "TesseraTensor"],
            path: "Sources/TesseraModelTesting"
        ),
        .target(
            name: "TesseraCore",
            dependencies: ["TesseraImaging", "TesseraTensor", "TesseraNN", "TesseraModelKit", "TesseraSettings", "CMalloc"],
            path: "Sources/TesseraCore"
        ),

        // MARK: Model plugins (one target per family)
        .target(
            name: "TesseraThreshold",
            dependencies: ["TesseraModelKit", "TesseraTensor"],
            path: "Plugins/Threshold"
        ),

        .target(
            name: "TesseraUNet",
            dependencies: ["TesseraModelKit", "TesseraNN", "TesseraTensor"],
            path: "Plugins/UNet"
        ),
        .target(
            name: "TesseraMultiResUNet",
            dependencies: ["TesseraModelKit", "TesseraNN", "TesseraTensor"],
            path: "Plugins/MultiResUNet"
        ),
        .target(
            name: "TesseraUNetPlusPlus",
            dependencies: ["TesseraModelKit", "TesseraNN", "TesseraTensor", "TesseraUNet"],
            path: "Plugins/UNetPlusPlus"
        ),
        .target(
            name: "TesseraSegNet",
            dependencies: ["TesseraModelKit", "TesseraNN", "TesseraTensor"],
            path: "Plugins/SegNet"
        ),
        .target(
            name: "TesseraFCN",
            dependencies: ["TesseraModelKit", "TesseraNN", "TesseraTensor"],
            path: "Plugins/FCN"
        ),
        .target(
            name: "TesseraAutoSegNet",
            dependencies: ["TesseraModelKit", "TesseraNN", "TesseraTensor"],
            path: "Plugins/AutoSegNet"
        ),
        .target(
            name: "TesseraModels",
            dependencies: [
                "TesseraModelKit", "TesseraThreshold", "TesseraUNet", "TesseraMultiResUNet", "TesseraUNetPlusPlus",
                "TesseraSegNet", "TesseraFCN", "TesseraAutoSegNet",
            ],
            path: "Sources/TesseraModels"
        ),

        // MARK: Architecture search (AutoSegNet's controller and shared weights)
        .target(
            name: "TesseraSearch",
            dependencies: ["TesseraCore", "TesseraAutoSegNet", "TesseraImaging", "TesseraNN", "TesseraTensor", "TesseraSettings"],
            path: "Sources/TesseraSearch"
        ),

        // MARK: Recipes
        .target(
            name: "TesseraRecipe",
            dependencies: ["TesseraCore", "TesseraSearch", "TesseraImaging", "TesseraSettings"],
            path: "Sources/TesseraRecipe"
        ),

        // MARK: Command line
        .target(
            name: "TesseraCLI",
            dependencies: [
                "TesseraCore", "TesseraImaging", "TesseraTensor", "TesseraModels", "TesseraModelTesting", "TesseraSettings", "TesseraRecipe", "TesseraSearch", "CMalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/TesseraCLI"
        ),
        .executableTarget(
            name: "tessera",
            dependencies: ["TesseraCLI"],
            path: "Sources/tessera",
            // Model plugins (shared libraries loaded with --plugin) resolve Tessera's symbols
            // against the executable.
            linkerSettings: [.unsafeFlags(["-Xlinker", "--export-dynamic"])]
        ),

        .executableTarget(
            name: "tessera-bench",
            dependencies: ["TesseraTensor", "TesseraNN", "TesseraCore", "TesseraModels", "TesseraImaging"],
            path: "Sources/tessera-bench"
        ),

        // MARK: Tests
        .target(
            name: "TesseraTestSupport",
            dependencies: ["TesseraTensor"],
            path: "Tests/TesseraTestSupport"
        ),
        .testTarget(
            name: "TesseraImagingTests",
            dependencies: ["TesseraImaging", "CVips", "CVipsShim", "TesseraTestSupport"],
            path: "Tests/TesseraImagingTests"
        ),
        .testTarget(
            name: "TesseraTensorTests",
            dependencies: ["TesseraTensor", "TesseraTestSupport"],
            path: "Tests/TesseraTensorTests",
            exclude: ["Fixtures/make_safetensors.py"],
            resources: [.copy("Fixtures/tensors.safetensors"), .copy("Fixtures/plain.safetensors")]
        ),
        .testTarget(
            name: "TesseraNNTests",
            dependencies: ["TesseraNN", "TesseraTensor", "TesseraTestSupport"],
            path: "Tests/TesseraNNTests"
        ),
        .testTarget(
            name: "TesseraCoreTests",
            dependencies: ["TesseraCore", "TesseraImaging", "TesseraModels", "TesseraModelTesting", "TesseraThreshold", "TesseraUNet", "TesseraUNetPlusPlus", "TesseraAutoSegNet", "TesseraSearch", "TesseraNN", "TesseraTestSupport", "CVips", "CVipsShim"],
            path: "Tests/TesseraCoreTests",
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "TesseraSettingsTests",
            dependencies: ["TesseraSettings", "TesseraCore", "TesseraTestSupport"],
            path: "Tests/TesseraSettingsTests"
        ),
        .testTarget(
            name: "TesseraRecipeTests",
            dependencies: ["TesseraRecipe", "TesseraCore", "TesseraModels", "TesseraTestSupport"],
            path: "Tests/TesseraRecipeTests"
        ),
        .testTarget(
            name: "TesseraCLITests",
            dependencies: ["TesseraTestSupport"],
            path: "Tests/TesseraCLITests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
